<?php
// Detects a response assembled from two releases: the parts are included at different
// moments of one request; if the docroot moved under the request, they disagree.
require __DIR__ . '/lib/bootstrap.php';

// ?hold=S spreads the parts over S seconds (at most 10): a long request in flight across a swap.
$pause = (int) (1000000 * min(10, max(0.045, (float) ($_GET['hold'] ?? 0.045))) / 3);
$seen = [DEMO_RELEASE_VERSION];
foreach (['a', 'b', 'c'] as $part) {
    usleep($pause);
    $seen[] = require __DIR__ . "/lib/part_$part.php";
}

header('Content-Type: application/json');
echo json_encode([
    'version' => DEMO_RELEASE_VERSION,
    'consistent' => count(array_unique($seen)) === 1,
    'parts' => $seen,
    'node' => gethostname(),
]), "\n";
