<?php
// sabre/dav (Debian php-sabre-dav) CalDAV server for calmeet's integration tests, run by
// tests/support/dav_server.rs as `php -S 127.0.0.1:<port> server.php` with:
//   CALMEET_SABRE_DB    path of the SQLite database (created with one user on first use)
//   CALMEET_SABRE_AUTH  "basic" or "digest" (sabre's realm is "SabreDAV")
//   CALMEET_SABRE_USER / CALMEET_SABRE_PASSWORD  the one account
// Calendars live at /calendars/<user>/<name>/ (created with MKCALENDAR by the test).
// sabre/dav 1.8 predates PHP 8: its deprecation notices are silenced, not turned into errors.
error_reporting(E_ALL & ~E_DEPRECATED & ~E_USER_DEPRECATED & ~E_NOTICE & ~E_WARNING);
ini_set('display_errors', '0');
ini_set('log_errors', '1');
date_default_timezone_set('UTC');

require_once 'Sabre/autoload.php';

$db = getenv('CALMEET_SABRE_DB');
$user = getenv('CALMEET_SABRE_USER');
$password = getenv('CALMEET_SABRE_PASSWORD');
$mode = getenv('CALMEET_SABRE_AUTH') ?: 'basic';
$realm = 'SabreDAV';

$fresh = !file_exists($db);
$pdo = new \PDO('sqlite:' . $db);
$pdo->setAttribute(\PDO::ATTR_ERRMODE, \PDO::ERRMODE_EXCEPTION);
if ($fresh) {
    $pdo->exec('CREATE TABLE calendarobjects (id integer primary key asc, calendardata blob,
        uri text, calendarid integer, lastmodified integer, etag text, size integer,
        componenttype text, firstoccurence integer, lastoccurence integer)');
    $pdo->exec('CREATE TABLE calendars (id integer primary key asc, principaluri text,
        displayname text, uri text, ctag integer, description text, calendarorder integer,
        calendarcolor text, timezone text, components text, transparent bool)');
    $pdo->exec('CREATE TABLE principals (id INTEGER PRIMARY KEY ASC, uri TEXT, email TEXT,
        displayname TEXT, vcardurl TEXT, UNIQUE(uri))');
    $pdo->exec('CREATE TABLE groupmembers (id INTEGER PRIMARY KEY ASC, principal_id INTEGER,
        member_id INTEGER, UNIQUE(principal_id, member_id))');
    $pdo->exec('CREATE TABLE users (id integer primary key asc, username TEXT, digesta1 TEXT,
        UNIQUE(username))');
    $p = $pdo->prepare('INSERT INTO principals (uri, email, displayname) VALUES (?, ?, ?)');
    $p->execute(array("principals/$user", "$user@example.org", $user));
    $p->execute(array("principals/$user/calendar-proxy-read", null, null));
    $p->execute(array("principals/$user/calendar-proxy-write", null, null));
    $u = $pdo->prepare('INSERT INTO users (username, digesta1) VALUES (?, ?)');
    $u->execute(array($user, md5("$user:$realm:$password")));
}

/** Basic authentication against the one configured account. */
class CalmeetBasic extends \Sabre\DAV\Auth\Backend\AbstractBasic {
    protected function validateUserPass($username, $password) {
        return $username === getenv('CALMEET_SABRE_USER')
            && $password === getenv('CALMEET_SABRE_PASSWORD');
    }
}

$authBackend = $mode === 'digest'
    ? new \Sabre\DAV\Auth\Backend\PDO($pdo)
    : new CalmeetBasic();
$calendarBackend = new \Sabre\CalDAV\Backend\PDO($pdo);
$principalBackend = new \Sabre\DAVACL\PrincipalBackend\PDO($pdo);

$server = new \Sabre\DAV\Server(array(
    new \Sabre\CalDAV\Principal\Collection($principalBackend),
    new \Sabre\CalDAV\CalendarRootNode($principalBackend, $calendarBackend),
));
$server->setBaseUri('/');
$server->addPlugin(new \Sabre\DAV\Auth\Plugin($authBackend, $realm));
$server->addPlugin(new \Sabre\DAVACL\Plugin());
$server->addPlugin(new \Sabre\CalDAV\Plugin());
$server->exec();
