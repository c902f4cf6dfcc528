// osflow-channels.js: the last step of osflow's channel fallback for nginx
// (njs), the same as osflow's own server (integrations/repo/handler.go):
// a file that neither the channel's release nor <channel>.prev holds is
// looked up in the releases of the channel's last switches, newest first,
// at most 8, as its audit log <channel>.log names them. A client that read
// repomd.xml just before a switch, or before a quick switch and rollback,
// still finds every file it names.
//
// nginx.conf (http block):  js_path /etc/nginx/njs/;  js_import osflow from osflow-channels.js;
// and the server block in nginx-osflow-channels.conf.
import fs from 'fs';

// As in handler.go: how many earlier releases are searched.
var FALLBACK_RELEASES = 8;
// As in integrations/repo/names.go: a release ID is one safe path component.
var RELEASE_ID = /^[a-z0-9][a-z0-9_-]*$/;

// recentReleases reads the channel's audit log (JSON lines) and returns the
// "to" and "from" releases of its last switches, newest first, without
// duplicates. Like the Go handler, a log it cannot read or parse gives no
// fallback at all rather than a guess.
function recentReleases(store, channel) {
    var text;
    try {
        text = fs.readFileSync(store + '/channels/' + channel + '.log', 'utf8');
    } catch (e) {
        return [];
    }
    var log = [];
    var lines = text.split('\n');
    for (var i = 0; i < lines.length; i++) {
        if (lines[i].trim() === '') {
            continue;
        }
        try {
            log.push(JSON.parse(lines[i]));
        } catch (e) {
            return [];
        }
    }
    var out = [];
    var seen = {};
    for (var j = log.length - 1; j >= 0 && out.length < FALLBACK_RELEASES; j--) {
        var pair = [log[j].to, log[j].from];
        for (var k = 0; k < pair.length; k++) {
            var rel = pair[k];
            if (typeof rel === 'string' && rel !== '' && !seen[rel] && RELEASE_ID.test(rel) && rel.length <= 200) {
                seen[rel] = true;
                out.push(rel);
            }
        }
    }
    return out;
}

// fallback is the value of $osflow_fallback, which try_files tries last:
// the path, under the store root, of the first recent release that holds
// the requested file, or a path that cannot exist.
function fallback(r) {
    var store = r.variables.osflow_store;
    var rest = r.variables.osflow_rest;
    var rels = recentReleases(store, r.variables.osflow_channel);
    for (var i = 0; i < rels.length; i++) {
        var path = '/releases/' + rels[i] + '/' + rest;
        try {
            if (fs.statSync(store + path).isFile()) {
                return path;
            }
        } catch (e) {
            // not in this release: try the next one
        }
    }
    return '/.osflow-no-such-file';
}

export default { fallback: fallback };
