import {isOriginAllowed} from '../../src/webapp/origin-check';

describe('isOriginAllowed', () => {
    it('allows a request without Origin', () => {
        expect(isOriginAllowed({host: 'a.example'}, [], false)).toBe(true);
    });

    it.each([
        ['https://a.example', 'a.example'],
        ['https://a.example', 'a.example:443'],
        ['http://a.example', 'a.example:80'],
        ['https://A.Example', 'a.example'],
        ['http://a.example:8080', 'a.example:8080'],
        // TLS ends at a proxy: the browser's https origin meets a plain http server with the same host
        ['https://127.0.0.1:5050', '127.0.0.1:5050'],
    ])('takes %s as the own origin of Host %s', (origin, host) => {
        expect(isOriginAllowed({origin, host}, [], false)).toBe(true);
    });

    it.each([
        ['https://evil.example', 'a.example'],
        ['https://a.example:444', 'a.example'],
        ['https://a.example.evil', 'a.example'],
        ['https://sub.a.example', 'a.example'],
        ['null', 'a.example'],
        ['not a url', 'a.example'],
        ['https://a.example', undefined],
    ])('refuses %s for Host %s', (origin, host) => {
        expect(isOriginAllowed({origin, host}, [], false)).toBe(false);
    });

    it('takes the first X-Forwarded-Host of a proxy chain as the own host, when the proxy is trusted to set it', () => {
        expect(isOriginAllowed({'origin': 'https://portal.example', 'host': 'internal:5050', 'x-forwarded-host': 'portal.example, proxy2'}, [], true)).toBe(true);
        expect(isOriginAllowed({'origin': 'https://proxy2', 'host': 'internal:5050', 'x-forwarded-host': 'portal.example, proxy2'}, [], true)).toBe(false);
    });

    it('ignores X-Forwarded-Host unless told to trust it: anyone can send one, naming the evil origin it comes with', () => {
        expect(isOriginAllowed({'origin': 'https://evil.example', 'host': 'portal.example', 'x-forwarded-host': 'evil.example'}, [], false)).toBe(false);
        expect(isOriginAllowed({'origin': 'https://portal.example', 'host': 'internal:5050', 'x-forwarded-host': 'portal.example'}, [], false)).toBe(false);
        // The own Host still counts
        expect(isOriginAllowed({'origin': 'https://portal.example', 'host': 'portal.example', 'x-forwarded-host': 'evil.example'}, [], false)).toBe(true);
    });

    it('allows the listed origins and, with "*", any', () => {
        expect(isOriginAllowed({origin: 'https://other.example', host: 'a.example'}, ['https://other.example'], false)).toBe(true);
        expect(isOriginAllowed({origin: 'http://other.example', host: 'a.example'}, ['https://other.example'], false)).toBe(false);
        expect(isOriginAllowed({origin: 'null', host: 'a.example'}, ['*'], false)).toBe(true);
    });
});
