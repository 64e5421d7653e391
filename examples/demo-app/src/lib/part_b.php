<?php
// Part of /probe.php: each part is read from disk at its own moment of the request and
// names the release it belongs to.
return '@VERSION@';
