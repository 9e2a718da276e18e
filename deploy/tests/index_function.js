// The index rewrite (src/site/index.js) on the cases it decides: run by tests/index_function.rs
// as `node index_function.js ../src/site/index.js`.
const fs = require('fs');
const src = fs.readFileSync(process.argv[2], 'utf8');
const handler = new Function(src + '; return handler;')();
const ev = (uri, qs) => ({request: {uri, querystring: qs || {}}});
const cases = [
  ['/', '/index.html'], ['/blog/', '/blog/index.html'], ['/a/b.html', '/a/b.html'],
  ['/v1.2/', '/v1.2/index.html'], ['/style.css', '/style.css'],
];
for (const [u, want] of cases) { const r = handler(ev(u)); if (r.uri !== want) throw new Error(u + ' -> ' + JSON.stringify(r)); }
let r = handler(ev('/blog', {utm_source: {value: 'x'}, a: {value: '', multiValue: [{value: ''}, {value: '2'}]}}));
if (r.statusCode !== 301 || r.headers.location.value !== '/blog/?utm_source=x&a&a=2') throw new Error(JSON.stringify(r));
r = handler(ev('/blog'));
if (r.headers.location.value !== '/blog/') throw new Error(JSON.stringify(r));
console.log('ok');
