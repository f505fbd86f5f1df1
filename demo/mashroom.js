// Server config of the demo: this package from the working tree plus the Mashroom plugins it needs.
// For the two-node demo (cluster.js) the environment adds a shared session folder and Redis.
const {resolve} = require('path');

const packageRoot = resolve(__dirname, '..');
const {SESSION_FOLDER, REDIS_URL} = process.env;

module.exports = {
    name: 'Mashroom WebSocket Demo',
    port: process.env.PORT !== undefined ? Number(process.env.PORT) : 5050,
    indexPage: '/websocket/test',
    pluginPackageFolders: [
        // This package, from the working tree (npm start builds it first)
        {path: packageRoot},
        // security, session (and its file store, for the two-node demo), login page, storage, i18n, browser cache,
        // messaging (the devDependencies)
        {path: resolve(packageRoot, 'node_modules/@mashroom')},
    ],
    plugins: {
        'Mashroom Session Middleware': {
            // Nodes of a cluster share the sessions, so that a login on one is valid on the other
            provider: SESSION_FOLDER ? 'Mashroom Session Filestore Provider' : 'memory',
            session: {
                // A demo secret; a real server sets its own
                secret: 'mashroom-websocket-demo-secret',
                cookie: {maxAge: 3600000},
            },
        },
        'Mashroom Security Services': {
            provider: 'Mashroom Security Simple Provider',
            acl: './acl.json',
        },
        'Mashroom Security Simple Provider': {
            users: './users.json',
            loginPage: '/login',
        },
        'Mashroom Storage Services': {
            provider: 'Mashroom Storage Filestore Provider',
        },
        'Mashroom Storage Filestore Provider': {
            dataFolder: './data/storage',
        },
        'Mashroom Session Filestore Provider': {
            path: SESSION_FOLDER || './data/sessions',
        },
        'Mashroom Messaging Services': {
            topicACL: './topicACL.json',
        },
        'Mashroom WebSocket Webapp': {
            restrictToRoles: ['WebSocketUser'],
            reconnectMessageBufferFolder: './data/websocket-buffer',
            // In the cluster the buffer lives in Redis, so that a client resumes on either node
            reconnectMessageBufferRedis: REDIS_URL ? {url: REDIS_URL, keyPrefix: 'mashroom-websocket-demo:'} : null,
            reconnectTimeoutSec: 60,
        },
    },
};
