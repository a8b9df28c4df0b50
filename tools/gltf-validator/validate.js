// Validate one glTF/GLB file with the Khronos glTF-Validator; print its JSON report.
// Usage: node validate.js FILE   (exit 0 = report printed, whatever it says)
const fs = require('fs');
const path = require('path');
const validator = require('gltf-validator');

const file = process.argv[2];
const bytes = new Uint8Array(fs.readFileSync(file));
validator.validateBytes(bytes, {
  uri: path.basename(file),
  maxIssues: 100,
  externalResourceFunction: (uri) => new Promise((resolve, reject) => {
    const p = path.resolve(path.dirname(file), decodeURIComponent(uri));
    fs.readFile(p, (err, data) => err ? reject(err.toString()) : resolve(new Uint8Array(data)));
  }),
}).then((report) => {
  process.stdout.write(JSON.stringify(report));
}).catch((err) => {
  process.stderr.write(String(err) + '\n');
  process.exit(2);
});
