<?php
// Included first by every page: names the release and the node on every response,
// so a load test can tell which code served which request.
const DEMO_RELEASE_VERSION = '@VERSION@';

header('X-Release-Version: ' . DEMO_RELEASE_VERSION);
header('X-Served-By: ' . gethostname());
header('Cache-Control: no-store');

// Feature toggles: this request's groups, cookies, and the X-Toggle-Serial and
// X-Toggle-Groups headers (see toggles.php).
require __DIR__ . '/toggles.php';
daylight_toggles_start();
