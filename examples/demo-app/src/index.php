<?php
require __DIR__ . '/lib/bootstrap.php';
require __DIR__ . '/lib/visits.php';
$visit = demo_record_visit('/');
$version = htmlspecialchars(DEMO_RELEASE_VERSION);
$node = htmlspecialchars(gethostname());
?>
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>daylight demo <?= $version ?></title></head>
<body>
<h1>daylight demo app</h1>
<p>Release <strong id="version"><?= $version ?></strong>, served by <strong id="node"><?= $node ?></strong>.
Visit number <strong id="visit"><?= $visit ?></strong>.</p>
</body>
</html>
