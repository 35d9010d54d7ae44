'use strict';
// The floor of the load benchmark: a node:http server that answers every
// request with a fixed JSON body of a recommendation response's size, so
// what the generator and node:http add on their own is measured too.
const http = require('node:http');

const BODY = JSON.stringify({
  recommendationId: 'r-0000000000000000',
  variant: null,
  items: Array.from({ length: 10 }, (_, i) => ({
    item: `FR-${String(i).padStart(5, '0')}`,
    score: 0.5,
    source: 'popular',
    reason: 'Popular right now',
  })),
});

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
  res.end(BODY);
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
