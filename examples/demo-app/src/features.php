<?php
// Shows which feature groups this response was served with (the same as the X-Toggle-Groups
// header), the visitor's number and the toggle file's serial.
//
// Demo of a feature that breaks: a session in the group `broken` of any feature gets a 500
// here. It stands in for a new code path that fails, so a ramp's health check (HAProxy 5xx
// ratio) has a real failure to catch; tests/e2e/test_toggles.py ramps a feature into it.
require __DIR__ . '/lib/bootstrap.php';

$t = $GLOBALS['daylight_toggles'];
$broken = array_keys($t['groups'], 'broken', true);
if ($broken) {
    http_response_code(500);
}
$h = static fn($s) => htmlspecialchars((string) $s);
?>
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>daylight demo: features</title></head>
<body>
<h1>Feature groups</h1>
<p>Release <strong id="version"><?= $h(DEMO_RELEASE_VERSION) ?></strong>, served by
<strong id="node"><?= $h(gethostname()) ?></strong>.</p>
<p>Your number: <strong id="number"><?= $h($t['number']) ?></strong>.
Toggle file serial: <strong id="serial"><?= $h($t['serial'] ?? 'none') ?></strong>.
Groups from: <strong id="source"><?= $h($t['source']) ?></strong>
(session: kept from the start of your session; file: worked out now; none: no toggle file).</p>
<?php if ($t['groups']): ?>
<table id="groups">
<tr><th>feature</th><th>group</th></tr>
<?php foreach ($t['groups'] as $feature => $group): ?>
<tr><td><?= $h($feature) ?></td><td><?= $h($group) ?></td></tr>
<?php endforeach; ?>
</table>
<?php else: ?>
<p id="groups">No features: every feature is in its default group.</p>
<?php endif; ?>
<p>Checkout: <strong id="checkout"><?= daylight_group('checkout') === 'new-checkout' ? 'the new checkout' : 'the classic checkout' ?></strong></p>
<?php if ($broken): ?>
<p id="broken">Feature <?= $h(implode(', ', $broken)) ?> is in the group <code>broken</code>: this page fails on purpose.</p>
<?php endif; ?>
</body>
</html>
