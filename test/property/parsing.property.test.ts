import fc from 'fast-check';
import {isConnectTargetError, parseConnectTarget} from '../../src/protocol/connect-target';
import {isClientId, newClientId} from '../../src/protocol/client-id';
import {isOriginAllowed} from '../../src/webapp/origin-check';
import {parseIncomingFrame} from '../../src/protocol/incoming-frame';

const BASE = '/websocket';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

// URL-ish text: the characters that matter for paths and queries, escapes (good and broken), and anything
const urlChar = fc.oneof(
    fc.constantFrom('/', '?', '&', '=', '#', '%', '.', '+', ' ', '\t', '\u0000', 'a', 'Z', '0', '-', '_', '~'),
    fc.constantFrom('%2F', '%2e', '%00', '%zz', '%E0%A4%A', '%C3%BC', '%', '%%', '..'),
    fc.string({minLength: 1, maxLength: 1, unit: 'binary'}),
);
const urlText = fc.array(urlChar, {maxLength: 40}).map((parts) => parts.join(''));

describe('properties of what is parsed from the outside', () => {
    it('parseConnectTarget never throws and follows its rules for any URL', () => {
        fc.assert(fc.property(fc.oneof(urlText.map((rest) => `${BASE}${rest}`), urlText), (url) => {
            const target = parseConnectTarget(url, BASE);
            if (isConnectTargetError(target)) {
                expect([400, 404]).toContain(target.status);
                return;
            }
            const path = url.split('?')[0];
            // Only below the base path, with the connect path being exactly the rest of the path
            expect(path === BASE || path.startsWith(`${BASE}/`)).toBe(true);
            expect(target.connectPath).toBe(path.slice(BASE.length));
            expect(target.connectPath).not.toContain('?');
            if (target.requestedClientId !== null) {
                expect(target.requestedClientId).toMatch(UUID);
            }
        }), {numRuns: 5000});
    });

    it('takes exactly the clientIds of our form from any query', () => {
        const clientIdValue = fc.oneof(fc.string({unit: 'grapheme'}), fc.constant(newClientId()), fc.uuid().map((uuid) => uuid.toUpperCase()), fc.uuid());
        fc.assert(fc.property(fc.string({maxLength: 20, unit: 'grapheme-ascii'}), clientIdValue, (path, value) => {
            const url = `${BASE}/${encodeURIComponent(path)}?a=1&clientId=${encodeURIComponent(value)}`;
            const target = parseConnectTarget(url, BASE);
            if (isConnectTargetError(target)) {
                throw new Error(`A well-formed URL was refused: ${url}`);
            }
            expect(target.requestedClientId).toBe(isClientId(value) ? value : null);
            expect(target.rejectedClientId).toBe(isClientId(value) ? null : value);
        }), {numRuns: 2000});
    });

    it('isOriginAllowed never throws, always allows "*" and requests without Origin', () => {
        const header = fc.option(fc.oneof(fc.string(), fc.webUrl(), fc.constant('null')), {nil: undefined});
        fc.assert(fc.property(header, header, header, fc.array(fc.webUrl().map((url) => new URL(url).origin)), fc.boolean(), (origin, host, forwarded, allowed, trust) => {
            const headers = {origin, 'host': host, 'x-forwarded-host': forwarded};
            const result = isOriginAllowed(headers, allowed, trust);
            expect(typeof result).toBe('boolean');
            expect(isOriginAllowed(headers, [...allowed, '*'], trust)).toBe(true);
            expect(isOriginAllowed({...headers, origin: undefined}, allowed, trust)).toBe(true);
            if (origin !== undefined && allowed.includes(origin)) {
                expect(result).toBe(true);
            }
            // Without trust, what X-Forwarded-Host says changes nothing
            if (!trust) {
                expect(isOriginAllowed({...headers, 'x-forwarded-host': undefined}, allowed, false)).toBe(result);
            }
        }), {numRuns: 3000});
    });

    it('parseIncomingFrame never throws: any bytes are a message or a reported problem', () => {
        fc.assert(fc.property(fc.uint8Array({maxLength: 2000}), fc.boolean(), (bytes, isBinary) => {
            const parsed = parseIncomingFrame(Buffer.from(bytes), isBinary);
            if (isBinary) {
                expect(parsed.ok).toBe(false);
            } else if (parsed.ok) {
                expect(parsed.message).toEqual(JSON.parse(Buffer.from(bytes).toString('utf8')));
            } else {
                expect(parsed.problem).toContain('not valid JSON');
            }
        }), {numRuns: 3000});
    });
});
