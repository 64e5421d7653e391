<?php
require __DIR__ . '/lib/bootstrap.php';
$version = htmlspecialchars(DEMO_RELEASE_VERSION);
$node = htmlspecialchars(gethostname());
?>
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>daylight demo <?= $version ?></title></head>
<body>
<h1>daylight demo app</h1>
<p>Release <strong id="version"><?= $version ?></strong>, served by <strong id="node"><?= $node ?></strong>.</p>
</body>
</html>
