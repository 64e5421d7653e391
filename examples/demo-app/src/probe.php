<?php
// Detects a response assembled from two releases: the parts are included at different
// moments of one request; if the docroot moved under the request, they disagree.
require __DIR__ . '/lib/bootstrap.php';

$seen = [DEMO_RELEASE_VERSION];
foreach (['a', 'b', 'c'] as $part) {
    usleep(15000);
    $seen[] = require __DIR__ . "/lib/part_$part.php";
}

header('Content-Type: application/json');
echo json_encode([
    'version' => DEMO_RELEASE_VERSION,
    'consistent' => count(array_unique($seen)) === 1,
    'parts' => $seen,
    'node' => gethostname(),
]), "\n";
