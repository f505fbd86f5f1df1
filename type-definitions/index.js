// The package's types live in index.d.ts; this module exists so that require() of the folder resolves.
module.exports = {};
