<?php
// Records each visit to the home page in the application's database.
require_once __DIR__ . '/db.php';

// Since 2.0.0 the visit also records the node that served it: the column comes from migration
// 0002 (nullable, added before the canary), which the 1.0.0 nodes still running simply ignore.
function demo_record_visit(string $page): int
{
    $db = demo_db();
    $db->prepare('INSERT INTO visits (page, release_version, node) VALUES (?, ?, ?)')
       ->execute([$page, DEMO_RELEASE_VERSION, gethostname()]);
    return (int) $db->lastInsertId();
}
