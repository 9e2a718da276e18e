// tally site: index documents for directory paths, as an S3 website endpoint serves them, in
// front of a private bucket (whose REST endpoint has no index documents).
//   /dir/        -> /dir/index.html (rewritten, answered 200: the logs may show either URI, the
//                   page path drops a final index.html, so both are the page /dir/)
//   /dir         -> 301 to /dir/ with its query string (a last segment without a dot is a
//                   directory; an object without an extension cannot be served)
//   /a/page.html -> unchanged
function handler(event) {
    var request = event.request;
    var uri = request.uri;
    if (uri.endsWith('/')) {
        request.uri = uri + 'index.html';
        return request;
    }
    var last = uri.substring(uri.lastIndexOf('/') + 1);
    if (last.indexOf('.') !== -1) {
        return request;
    }
    return {
        statusCode: 301,
        statusDescription: 'Moved Permanently',
        headers: {location: {value: uri + '/' + query(request.querystring)}}
    };
}

function query(querystring) {
    var parts = [];
    for (var name in querystring) {
        var entry = querystring[name];
        var values = entry.multiValue ? entry.multiValue : [entry];
        for (var i = 0; i < values.length; i++) {
            parts.push(values[i].value === '' ? name : name + '=' + values[i].value);
        }
    }
    return parts.length ? '?' + parts.join('&') : '';
}
