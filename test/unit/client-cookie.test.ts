import type {IncomingMessage} from 'http';
import {Socket} from 'net';
import {TLSSocket} from 'tls';
import {clientCookie, clientIdsOfCookie} from '../../src/protocol/client-cookie';

const ID = '3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b';
const OTHER = '7d1e2f3a-4b5c-4d6e-9f8a-0b1c2d3e4f5a';
const request = (headers: Record<string, string> = {}, tls = false): IncomingMessage =>
    ({headers, socket: Object.create(tls ? TLSSocket.prototype : Socket.prototype) as Socket}) as unknown as IncomingMessage;

describe('the client id cookie', () => {
    it('reads the ids among other cookies, in the order the browser sends them (the most specific path first)', () => {
        expect(clientIdsOfCookie(`session=abc; mashroom-websocket-client=${ID}; other=1`)).toEqual([ID]);
        // One of the same name from another path or a parent domain must not hide ours: all are tried
        expect(clientIdsOfCookie(`mashroom-websocket-client=${ID};mashroom-websocket-client=${OTHER}`)).toEqual([ID, OTHER]);
        expect(clientIdsOfCookie(`mashroom-websocket-client=nonsense; mashroom-websocket-client=${OTHER}; mashroom-websocket-client=${OTHER}`)).toEqual([OTHER]);
    });

    it('reads at most four, so that a header full of them costs no more than a few lookups', () => {
        const ids = Array.from({length: 10}, (_, index) => ID.replace(/.$/, String(index)));
        expect(clientIdsOfCookie(ids.map((id) => `mashroom-websocket-client=${id}`).join('; '))).toEqual(ids.slice(0, 4));
    });

    it('reads nothing from a missing header, another cookie of a similar name, or a value that is not one of our ids', () => {
        expect(clientIdsOfCookie(undefined)).toEqual([]);
        expect(clientIdsOfCookie(`x-mashroom-websocket-client=${ID}`)).toEqual([]);
        expect(clientIdsOfCookie(`mashroom-websocket-client=${ID.toUpperCase()}`)).toEqual([]);
        expect(clientIdsOfCookie('mashroom-websocket-client=')).toEqual([]);
    });

    it('sets it for the connect path only, HttpOnly and SameSite=Strict, Secure when the request came over TLS', () => {
        expect(clientCookie(ID, '/websocket/messages', request(), false)).toBe(`mashroom-websocket-client=${ID}; Path=/websocket/messages; HttpOnly; SameSite=Strict`);
        expect(clientCookie(ID, '/websocket', request({}, true), false)).toContain('; Secure');
        expect(clientCookie(ID, '/websocket', request({'x-forwarded-proto': 'https, http'}), true)).toContain('; Secure');
        expect(clientCookie(ID, '/websocket', request({'x-forwarded-proto': 'http'}), true)).not.toContain('Secure');
        // X-Forwarded-Proto only from a trusted proxy
        expect(clientCookie(ID, '/websocket', request({'x-forwarded-proto': 'https'}), false)).not.toContain('Secure');
    });

    it('sets none for a connect path that would end its Path attribute early', () => {
        expect(clientCookie(ID, '/websocket/a;Domain=example.com', request(), false)).toBeNull();
        expect(clientCookie(ID, '/websocket/a b', request(), false)).toBeNull();
    });
});
