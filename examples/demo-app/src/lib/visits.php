<?php
// Records each visit to the home page in the application's database.
require_once __DIR__ . '/db.php';

// Release 1.0.0 writes the columns of migration 0001. It names them, so a column added later
// (nullable or with a default: an expand migration) does not break it.
function demo_record_visit(string $page): int
{
    $db = demo_db();
    $db->prepare('INSERT INTO visits (page, release_version) VALUES (?, ?)')
       ->execute([$page, DEMO_RELEASE_VERSION]);
    return (int) $db->lastInsertId();
}
