// Converts the OpenAPI document (path in argv[2]) into a Postman collection on stdout.
// Generated ids are random on every run; they are dropped so the output is reproducible
// and a stale committed collection can be detected by a plain diff.
'use strict';
const fs = require('fs');

// The converter invents example values with Math.random; a fixed seed makes them stable.
let seed = 0x5eed;
Math.random = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const Converter = require('openapi-to-postmanv2');

const spec = fs.readFileSync(process.argv[2], 'utf8');
const options = {
  folderStrategy: 'Tags',
  requestNameSource: 'Fallback',
  parametersResolution: 'Example',
  includeAuthInfoInExample: false,
};

function stripIds(value) {
  if (Array.isArray(value)) return value.map(stripIds);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'id' || key === '_postman_id') continue;
      out[key] = stripIds(inner);
    }
    return out;
  }
  return value;
}

Converter.convert({ type: 'string', data: spec }, options, (error, result) => {
  if (error || !result.result) {
    console.error('conversion failed:', error || result.reason);
    process.exit(1);
  }
  const collection = stripIds(result.output[0].data);
  collection.variable = [{ key: 'baseUrl', value: 'http://localhost:8080', type: 'string' }];
  process.stdout.write(JSON.stringify(collection, null, 2) + '\n');
});
