<?php
/**
 * Feature toggles: which group of each feature this request is served with.
 *
 * Small on purpose: copy this file to use the pattern in another PHP app. The operator moves
 * "toggle bands" with the daylight.release.toggle_bands module (role feature_toggles); the app
 * only reads the file. Nothing here needs a database, a session store or APCu.
 *
 * How a request gets its groups
 * -----------------------------
 * 1. Cookie `daylight_n` (lasts a year): the visitor's number, a random whole number 1..100
 *    drawn with random_int(). Set when missing or not exactly a number 1..100.
 * 2. The toggle file (DAYLIGHT_TOGGLES_FILE, default /etc/daylight/toggles.json) maps, per
 *    feature, ranges of that number ("bands") to a group: 1-10 new-checkout, 11-100 control.
 *    With a salt, the number first goes through the feature's permutation of 1..100 (see
 *    daylight_permute()), so two features do not pick the same 10% of visitors.
 * 3. Cookie `daylight_groups` (a session cookie: no expiry, gone when the browser closes)
 *    holds the groups the session started with: "checkout=new-checkout;search=control".
 *    While it is present and valid, those groups are used whatever the file says now, so a
 *    band change never flips a visitor in the middle of a session; only new sessions follow
 *    new bands. A feature the cookie does not name (added since the session started) is
 *    computed from the file and added to the cookie, and then stays put too.
 *    (There is no kill switch through bands for running sessions: to switch a feature off
 *    for everyone at once, stop using it in code or give it a new feature name.)
 * 4. Missing or corrupt file (unreadable, not JSON, format not 1, checksum wrong, bands not
 *    covering 1..100 exactly once): no feature is known, so every feature the code asks about
 *    is in the default group the code names, `control` unless told otherwise: the old code
 *    path, the one that ran before the feature existed, which is the safe choice. (We cannot
 *    use "each feature's first group": without the file we do not know the features.) No
 *    session cookie is set then, so the session picks up the real bands once the file is good.
 *
 * Every response carries two headers, so a test or an operator can see what was served:
 *   X-Toggle-Serial: <serial of the file read for this request>   ("none" when missing/corrupt)
 *   X-Toggle-Groups: checkout=new-checkout;search=control         (the groups used)
 *
 * Use: call daylight_toggles_start() once per request before any output (bootstrap.php
 * does), then daylight_group('checkout') === 'new-checkout' wherever the feature matters.
 *
 * The file format and the permutation are specified in the collection's
 * plugins/module_utils/toggle_bands.py; tests/toggles_selftest.php checks this file against it.
 */

if (!defined('DAYLIGHT_TOGGLES_FILE')) {
    define('DAYLIGHT_TOGGLES_FILE', '/etc/daylight/toggles.json');
}
const DAYLIGHT_NUMBER_COOKIE = 'daylight_n';
const DAYLIGHT_GROUPS_COOKIE = 'daylight_groups';
// Same patterns as the module's; /D: '$' must not accept a trailing newline.
const DAYLIGHT_NAME_PATTERN = '/^[a-z][a-z0-9_-]{0,62}$/D';
const DAYLIGHT_SALT_PATTERN = '/^[A-Za-z0-9._:-]{0,64}$/D';

/**
 * Read and check the toggle file.
 *
 * @return array{serial:int, features:array<string, array{salt:string, bands:list<array{int,int,string}>}>}|null
 *         null when the file is missing or fails any check.
 */
function daylight_toggles_read(string $path): ?array
{
    $text = @file_get_contents($path);
    if ($text === false) {
        return null;
    }
    // Objects, not associative arrays: json_encode must give back exactly the bytes the
    // checksum was computed over, and an assoc array would turn an empty {} into [].
    $doc = json_decode($text);
    if (!is_object($doc) || ($doc->format ?? null) !== 1 || !is_int($doc->serial ?? null) || $doc->serial < 1
        || !is_object($doc->features ?? null) || !is_string($doc->checksum ?? null)) {
        return null;
    }
    // The file's keys are sorted and its strings need no escapes, so PHP's compact
    // json_encode is the same text Python hashed.
    if ('sha256:' . hash('sha256', json_encode(['features' => $doc->features])) !== $doc->checksum) {
        return null;
    }
    $features = [];
    foreach ($doc->features as $name => $feature) {
        if (!is_string($name) || !preg_match(DAYLIGHT_NAME_PATTERN, $name) || !is_object($feature)
            || !is_string($feature->salt ?? null) || !preg_match(DAYLIGHT_SALT_PATTERN, $feature->salt)
            || !is_array($feature->bands ?? null)) {
            return null;
        }
        // Bands come sorted and must tile 1..100: each starts right after the previous one.
        $bands = [];
        $next = 1;
        foreach ($feature->bands as $band) {
            if (!is_object($band) || ($band->from ?? null) !== $next || !is_int($band->to ?? null)
                || $band->to < $next || $band->to > 100
                || !is_string($band->group ?? null) || !preg_match(DAYLIGHT_NAME_PATTERN, $band->group)) {
                return null;
            }
            $bands[] = [$band->from, $band->to, $band->group];
            $next = $band->to + 1;
        }
        if ($next !== 101) {
            return null;
        }
        $features[$name] = ['salt' => $feature->salt, 'bands' => $bands];
    }
    return ['serial' => $doc->serial, 'features' => $features];
}

/**
 * The number looked up in a feature's bands for cookie number $n (1..100).
 *
 * Salt "": the number itself. Otherwise a fixed permutation of 1..100 (Fisher-Yates driven by
 * sha256): start with p[k] = k; for i = 100 down to 2, h = sha256_hex(salt . ':' . i),
 * j = 1 + (first 8 hex digits of h as a number) mod i, swap p[i] and p[j]. Needs 64-bit PHP
 * (hexdec of 8 hex digits must be an int). Salt "s1" maps 1..10 to 93 42 59 27 81 35 50 89 56 84.
 */
function daylight_permute(int $n, string $salt): int
{
    static $permutations = [];
    if ($salt === '') {
        return $n;
    }
    if (!isset($permutations[$salt])) {
        $p = range(0, 100);
        for ($i = 100; $i >= 2; $i--) {
            $j = 1 + hexdec(substr(hash('sha256', $salt . ':' . $i), 0, 8)) % $i;
            [$p[$i], $p[$j]] = [$p[$j], $p[$i]];
        }
        $permutations[$salt] = $p;
    }
    return $permutations[$salt][$n];
}

/** Group of cookie number $n in one feature as returned by daylight_toggles_read(). */
function daylight_group_for(array $feature, int $n): string
{
    $m = daylight_permute($n, $feature['salt']);
    foreach ($feature['bands'] as [$from, $to, $group]) {
        if ($from <= $m && $m <= $to) {
            return $group;
        }
    }
    throw new LogicException("number $m is in no band"); // cannot happen: read() checked the tiling
}

/** A cookie's text "a=x;b=y" -> ['a' => 'x', 'b' => 'y'], or null when it is not exactly that. */
function daylight_groups_parse($text): ?array
{
    if (!is_string($text) || $text === '' || strlen($text) > 4096) {
        return null;
    }
    $groups = [];
    foreach (explode(';', $text) as $pair) {
        $parts = explode('=', $pair);
        if (count($parts) !== 2 || !preg_match(DAYLIGHT_NAME_PATTERN, $parts[0])
            || !preg_match(DAYLIGHT_NAME_PATTERN, $parts[1]) || isset($groups[$parts[0]])) {
            return null;
        }
        $groups[$parts[0]] = $parts[1];
    }
    return $groups;
}

/** ['b' => 'y', 'a' => 'x'] -> "a=x;b=y" (sorted by feature). */
function daylight_groups_format(array $groups): string
{
    ksort($groups, SORT_STRING);
    $pairs = [];
    foreach ($groups as $feature => $group) {
        $pairs[] = "$feature=$group";
    }
    return implode(';', $pairs);
}

/** The cookie's number if it is exactly a whole number 1..100 (no sign, no leading zero), else null. */
function daylight_number_parse($text): ?int
{
    return is_string($text) && preg_match('/^(100|[1-9][0-9]?)$/D', $text) ? (int) $text : null;
}

/**
 * Work out this request's groups, set the cookies and the two headers. Call once, before output.
 *
 * @return array{number:int, serial:?int, groups:array<string,string>, source:string}
 *         source: "session" (all groups from the session cookie), "file" (some or all computed
 *         from the toggle file now) or "none" (no valid file and no session cookie).
 */
function daylight_toggles_start(?array $cookies = null, string $path = DAYLIGHT_TOGGLES_FILE): array
{
    $cookies = $cookies ?? $_COOKIE;
    $cookie = ['path' => '/', 'httponly' => true, 'samesite' => 'Lax']; // add 'secure' => true behind HTTPS

    $number = daylight_number_parse($cookies[DAYLIGHT_NUMBER_COOKIE] ?? null);
    if ($number === null) {
        $number = random_int(1, 100);
        setcookie(DAYLIGHT_NUMBER_COOKIE, (string) $number, $cookie + ['expires' => time() + 365 * 86400]);
    }

    $file = daylight_toggles_read($path);
    $session = daylight_groups_parse($cookies[DAYLIGHT_GROUPS_COOKIE] ?? null);
    $groups = $session ?? [];
    $source = $session === null ? 'none' : 'session';
    if ($file !== null) {
        foreach ($file['features'] as $name => $feature) {
            if (!isset($groups[$name])) {
                $groups[$name] = daylight_group_for($feature, $number);
                $source = 'file';
            }
        }
        if ($source === 'file') {
            // No 'expires': a session cookie. setcookie() URL-encodes the value.
            setcookie(DAYLIGHT_GROUPS_COOKIE, daylight_groups_format($groups), $cookie);
        }
    }
    ksort($groups, SORT_STRING);

    header('X-Toggle-Serial: ' . ($file === null ? 'none' : $file['serial']));
    header('X-Toggle-Groups: ' . daylight_groups_format($groups));
    return $GLOBALS['daylight_toggles'] = [
        'number' => $number,
        'serial' => $file === null ? null : $file['serial'],
        'groups' => $groups,
        'source' => $source,
    ];
}

/** This request's group of $feature, or $default when the feature is not known (see 4. above). */
function daylight_group(string $feature, string $default = 'control'): string
{
    return $GLOBALS['daylight_toggles']['groups'][$feature] ?? $default;
}
