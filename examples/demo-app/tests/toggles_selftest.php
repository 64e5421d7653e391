<?php
/**
 * Self-check of src/lib/toggles.php against the Python side (plugins/module_utils/toggle_bands.py).
 *
 *   php tests/toggles_selftest.php [path/to/toggles.php]
 *   podman exec -i web1 php -- /var/www/current/lib/toggles.php < tests/toggles_selftest.php
 *
 * Prints one line per check and "ok: N checks" last; exits 1 on the first failure. The expected
 * values below were produced by the Python module_utils (permutation(), render(), group_for()),
 * so a pass means the PHP reader agrees with the writer byte for byte. Not part of the package:
 * it lives outside src/ so it is never in a docroot.
 */

ob_start(); // headers and cookies of daylight_toggles_start() need no output before them
require $argv[1] ?? __DIR__ . '/../src/lib/toggles.php';

$checks = 0;
function check(bool $ok, string $what): void
{
    global $checks;
    $checks++;
    if (!$ok) {
        ob_end_flush();
        fwrite(STDERR, "FAIL: $what\n");
        exit(1);
    }
    echo "pass: $what\n";
}

// Python: permutation('s1')[1:]
$s1 = [93, 42, 59, 27, 81, 35, 50, 89, 56, 84, 63, 26, 73, 65, 87, 58, 23, 18, 28, 70, 85, 11, 77, 67, 52, 17,
    33, 95, 34, 5, 47, 82, 96, 43, 20, 38, 83, 44, 68, 25, 40, 66, 39, 10, 1, 24, 54, 29, 78, 22, 3, 8, 97, 30, 55,
    62, 16, 80, 99, 12, 41, 64, 74, 53, 75, 32, 71, 6, 37, 86, 72, 4, 31, 49, 100, 79, 90, 60, 13, 48, 91, 61, 14,
    76, 15, 7, 45, 94, 92, 57, 51, 36, 98, 69, 21, 2, 88, 19, 46, 9];
$got = array_map(fn($n) => daylight_permute($n, 's1'), range(1, 100));
check(array_slice($got, 0, 10) === [93, 42, 59, 27, 81, 35, 50, 89, 56, 84], 'salt s1 maps 1..10 to 93 42 59 27 81 35 50 89 56 84');
check($got === $s1, 'salt s1 matches the Python permutation for all of 1..100');
$sorted = $got;
sort($sorted);
check($sorted === range(1, 100), 'salt s1 is a permutation of 1..100');
check(array_map(fn($n) => daylight_permute($n, 'search-2024'), range(1, 10)) === [50, 87, 36, 6, 37, 49, 59, 5, 99, 63],
    'salt search-2024 matches Python for 1..10');
check(array_map(fn($n) => daylight_permute($n, ''), range(1, 100)) === range(1, 100), 'empty salt is the identity');

// Python: render(normalize({checkout: {bands: {1-10: new-checkout, 11-100: control}},
//                           search: {salt: s1, percent: {new-search: 25}}}), 7)
$file = <<<'JSON'
{
  "checksum": "sha256:6a50fe42c2e88a68adca913336ed9a107a336119ca7765c9ac5b5f66ac18ee42",
  "features": {
    "checkout": {
      "bands": [
        {
          "from": 1,
          "group": "new-checkout",
          "to": 10
        },
        {
          "from": 11,
          "group": "control",
          "to": 100
        }
      ],
      "salt": ""
    },
    "search": {
      "bands": [
        {
          "from": 1,
          "group": "new-search",
          "to": 25
        },
        {
          "from": 26,
          "group": "control",
          "to": 100
        }
      ],
      "salt": "s1"
    }
  },
  "format": 1,
  "serial": 7
}

JSON;
// Python: group_for(search, n) for n = 1..100, N = new-search, c = control
$search = 'ccccccccccccccccNNcccNcccNcccNccccNccccNcccNNNcccNNNccccNccNcccccccNcccNccccccNcccNcNNccccccccNNcNcN';

$path = tempnam(sys_get_temp_dir(), 'toggles-selftest-');
register_shutdown_function(fn() => @unlink($path));
file_put_contents($path, $file);
$t = daylight_toggles_read($path);
check($t !== null && $t['serial'] === 7, 'a file rendered by Python passes format and checksum checks');
$ok = true;
foreach (range(1, 100) as $n) {
    $ok = $ok && daylight_group_for($t['features']['checkout'], $n) === ($n <= 10 ? 'new-checkout' : 'control');
    $ok = $ok && daylight_group_for($t['features']['search'], $n) === ($search[$n - 1] === 'N' ? 'new-search' : 'control');
}
check($ok, 'groups of every number 1..100 match Python (plain and salted feature)');

$bad = [
    'missing file' => null,
    'not JSON' => '{"format": 1,',
    'format 2' => str_replace('"format": 1', '"format": 2', $file),
    'serial 0' => str_replace('"serial": 7', '"serial": 0', $file),
    'band edited, checksum not' => str_replace('"to": 10', '"to": 11', $file),
    'checksum edited' => str_replace('sha256:6a', 'sha256:7a', $file),
];
foreach ($bad as $what => $text) {
    if ($text === null) {
        @unlink($path);
    } else {
        file_put_contents($path, $text);
    }
    check(daylight_toggles_read($path) === null, "rejected: $what");
}
// A correct checksum over bands that do not tile 1..100 (a gap): still rejected.
$gap = json_decode($file);
$gap->features->checkout->bands[1]->from = 12;
$gap->checksum = 'sha256:' . hash('sha256', json_encode(['features' => $gap->features]));
file_put_contents($path, json_encode($gap));
check(daylight_toggles_read($path) === null, 'rejected: checksum right but a gap at 11');

check(daylight_groups_parse('checkout=new-checkout;search=control') === ['checkout' => 'new-checkout', 'search' => 'control'],
    'session cookie parses');
foreach (['', 'checkout', 'checkout=', 'checkout=a=b', 'a=x;a=y', 'Checkout=x', "a=x\n", 'a=<b>', 'a=x;', ['a=x']] as $text) {
    check(daylight_groups_parse($text) === null, 'session cookie rejected: ' . json_encode($text));
}
foreach (['1' => 1, '10' => 10, '100' => 100] as $text => $n) {
    check(daylight_number_parse((string) $text) === $n, "number cookie $text accepted");
}
foreach (['0', '101', '010', '-1', '+5', '5 ', '', '1e1', "5\n"] as $text) {
    check(daylight_number_parse($text) === null, 'number cookie rejected: ' . json_encode($text));
}

// The whole request: file groups for a new session, session groups kept after a band change.
file_put_contents($path, $file);
$r = daylight_toggles_start(['daylight_n' => '5'], $path);
check($r['groups'] === ['checkout' => 'new-checkout', 'search' => 'control'] && $r['source'] === 'file' && $r['serial'] === 7,
    'new session with number 5 gets its groups from the file');
$r = daylight_toggles_start(['daylight_n' => '5', 'daylight_groups' => 'checkout=control;search=new-search'], $path);
check($r['groups'] === ['checkout' => 'control', 'search' => 'new-search'] && $r['source'] === 'session',
    'a valid session cookie wins over the file');
$r = daylight_toggles_start(['daylight_n' => '5', 'daylight_groups' => 'checkout=control'], $path);
check($r['groups'] === ['checkout' => 'control', 'search' => 'control'] && $r['source'] === 'file',
    'a feature the session does not know is added from the file');
$r = daylight_toggles_start(['daylight_n' => '5', 'daylight_groups' => 'checkout=<x>'], $path);
check($r['groups']['checkout'] === 'new-checkout', 'an invalid session cookie is ignored');
$r = daylight_toggles_start(['daylight_n' => 'x'], $path);
check($r['number'] >= 1 && $r['number'] <= 100, 'an invalid number cookie is replaced by a random 1..100');
@unlink($path);
$r = daylight_toggles_start(['daylight_n' => '5'], $path);
check($r['groups'] === [] && $r['serial'] === null && $r['source'] === 'none' && daylight_group('checkout') === 'control',
    'no file: no groups, every feature in its default group');

echo "ok: $checks checks\n";
ob_end_flush();
