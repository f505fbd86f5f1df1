// The client library for Node.js: require('@mashroom/mashroom-websocket/client'). The same file is served to
// browsers by the webapp as <basePath>/mashroom-websocket-client.js.
module.exports = require('./public/mashroom-websocket-client.js');
