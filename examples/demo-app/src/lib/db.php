<?php
// The application's database. Where it is and its password come from /etc/daylight/demo-app.ini
// on the node (the lab's configure.yml writes it), never from the release package.
const DEMO_DB_CONFIG = '/etc/daylight/demo-app.ini';

function demo_db(): PDO
{
    $c = parse_ini_file(DEMO_DB_CONFIG);
    if ($c === false) {
        throw new RuntimeException('cannot read ' . DEMO_DB_CONFIG);
    }
    return new PDO(
        sprintf('mysql:host=%s;port=%d;dbname=%s;charset=utf8mb4', $c['host'], $c['port'] ?? 3306, $c['name']),
        $c['user'],
        $c['password'],
        [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 2]
    );
}
