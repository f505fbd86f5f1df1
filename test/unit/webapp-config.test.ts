import {parseWebAppConfig, WebAppConfigError} from '../../src/config/webapp-config';
import {DEFAULT_CONFIG as defaults} from '../helpers/test-server';

describe('parseWebAppConfig', () => {
    it('accepts the default config of the plugin definition', () => {
        expect(parseWebAppConfig(defaults)).toEqual({
            path: '/websocket',
            reconnectMessageBufferFolder: null,
            reconnectTimeoutSec: 5,
            restrictToRoles: null,
            enableKeepAlive: true,
            keepAliveIntervalSec: 15,
            maxConnections: 2000,
            maxConnectionsPerUser: 20,
            incomingMessagesPerSec: 100,
            incomingMessagesBurst: 1000,
            allowedOrigins: [],
            maxMessageSizeBytes: 1048576,
            upgradeTimeoutSec: 10,
            maxUnsentBytesPerClient: 262144,
            reconnectMessageBufferMaxBytes: 1048576,
            reconnectMessageBufferMaxTotalBytes: 268435456,
            memoryBudgetBytes: 134217728,
            reconnectMessageBufferRedis: null,
            clientIdCookie: true,
            trustForwardedHeaders: false,
        });
    });

    it('strips trailing slashes of the path', () => {
        expect(parseWebAppConfig({...defaults, path: '/ws/'}).path).toBe('/ws');
    });

    it('treats an empty role list as no restriction and a single role name as a list of one', () => {
        expect(parseWebAppConfig({...defaults, restrictToRoles: []}).restrictToRoles).toBeNull();
        expect(parseWebAppConfig({...defaults, restrictToRoles: 'Admin'}).restrictToRoles).toEqual(['Admin']);
        expect(parseWebAppConfig({...defaults, restrictToRoles: ['A', 'B']}).restrictToRoles).toEqual(['A', 'B']);
    });

    it('normalises allowed origins and keeps "*"', () => {
        expect(parseWebAppConfig({...defaults, allowedOrigins: ['HTTPS://Portal.Example.com:443/', '*']}).allowedOrigins)
            .toEqual(['https://portal.example.com', '*']);
        expect(parseWebAppConfig({...defaults, allowedOrigins: '*'}).allowedOrigins).toEqual(['*']);
    });

    it('takes a Redis URL with the default key prefix', () => {
        expect(parseWebAppConfig({...defaults, reconnectMessageBufferRedis: {url: 'redis://localhost:6379/1'}}).reconnectMessageBufferRedis)
            .toEqual({url: 'redis://localhost:6379/1', keyPrefix: 'mashroom:websocket:'});
    });

    it('accepts fractions of seconds', () => {
        const config = parseWebAppConfig({...defaults, reconnectTimeoutSec: 0.5, keepAliveIntervalSec: 0.25});
        expect(config.reconnectTimeoutSec).toBe(0.5);
        expect(config.keepAliveIntervalSec).toBe(0.25);
    });

    it.each([
        [{path: 'websocket'}, 'path must start with a slash'],
        [{path: '/'}, 'path must not be the root path'],
        [{path: '/ws?x=1'}, 'path must be a plain URL path'],
        [{reconnectMessageBufferFolder: 42}, 'reconnectMessageBufferFolder must be a folder name or null'],
        [{reconnectTimeoutSec: -1}, 'reconnectTimeoutSec must be a number >= 0'],
        [{reconnectTimeoutSec: '5'}, 'reconnectTimeoutSec must be a number >= 0 (got "5")'],
        [{restrictToRoles: [1]}, 'restrictToRoles must be a list of role names or null'],
        [{enableKeepAlive: 'yes'}, 'enableKeepAlive must be true or false'],
        [{clientIdCookie: 'no'}, 'clientIdCookie must be true or false (got "no")'],
        [{trustForwardedHeaders: 1}, 'trustForwardedHeaders must be true or false (got 1)'],
        [{keepAliveIntervalSec: 0}, 'keepAliveIntervalSec must be a number > 0'],
        [{keepAliveIntervalSec: Infinity}, 'keepAliveIntervalSec must be a number > 0'],
        [{maxConnections: 1.5}, 'maxConnections must be a whole number >= 0'],
        [{maxConnections: null}, 'maxConnections must be a whole number >= 0 (got null)'],
        [{maxConnectionsPerUser: 0}, 'maxConnectionsPerUser must be a whole number >= 1'],
        [{allowedOrigins: 'example.com'}, 'allowedOrigins entry "example.com" is not an origin'],
        [{allowedOrigins: [42]}, 'allowedOrigins must be a list of origins'],
        [{maxMessageSizeBytes: 0}, 'maxMessageSizeBytes must be a whole number >= 1'],
        [{upgradeTimeoutSec: 0}, 'upgradeTimeoutSec must be a number > 0'],
        [{maxUnsentBytesPerClient: -5}, 'maxUnsentBytesPerClient must be a whole number >= 1'],
        [{reconnectMessageBufferMaxBytes: 'big'}, 'reconnectMessageBufferMaxBytes must be a whole number >= 1'],
        [{reconnectMessageBufferRedis: 'redis://x'}, 'reconnectMessageBufferRedis must be null or'],
        [{reconnectMessageBufferRedis: {url: 'http://x'}}, 'reconnectMessageBufferRedis must be null or'],
        [{reconnectMessageBufferRedis: {url: 'redis://x', keyPrefix: ''}}, 'keyPrefix must be a non-empty string'],
    ])('refuses %j with a clear message', (override, message) => {
        expect(() => parseWebAppConfig({...defaults, ...override})).toThrow(WebAppConfigError);
        expect(() => parseWebAppConfig({...defaults, ...override})).toThrow(message);
    });

    it('lists every problem at once', () => {
        expect(() => parseWebAppConfig({...defaults, maxConnections: -1, keepAliveIntervalSec: -1}))
            .toThrow(/keepAliveIntervalSec.*; maxConnections/);
    });
});
