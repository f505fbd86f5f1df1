// Server config of the demo: this package from the working tree plus the Mashroom plugins it needs.
const {resolve} = require('path');

const packageRoot = resolve(__dirname, '..');

module.exports = {
    name: 'Mashroom WebSocket Demo',
    port: process.env.PORT !== undefined ? Number(process.env.PORT) : 5050,
    indexPage: '/websocket/test',
    pluginPackageFolders: [
        // This package, from the working tree (npm start builds it first)
        {path: packageRoot},
        // security, session, login page, storage, i18n, browser cache, messaging (the devDependencies)
        {path: resolve(packageRoot, 'node_modules/@mashroom')},
    ],
    plugins: {
        'Mashroom Session Middleware': {
            provider: 'memory',
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
        'Mashroom Messaging Services': {
            topicACL: './topicACL.json',
        },
        'Mashroom WebSocket Webapp': {
            restrictToRoles: ['WebSocketUser'],
            reconnectMessageBufferFolder: './data/websocket-buffer',
            reconnectTimeoutSec: 60,
        },
    },
};
