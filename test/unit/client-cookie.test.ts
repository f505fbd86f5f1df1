import type {IncomingMessage} from 'http';
import {clientCookie, clientIdOfCookie} from '../../src/protocol/client-cookie';

const ID = '3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b';
const OTHER = '7d1e2f3a-4b5c-4d6e-9f8a-0b1c2d3e4f5a';
const request = (headers: Record<string, string> = {}, encrypted = false): IncomingMessage =>
    ({headers, socket: {encrypted}}) as unknown as IncomingMessage;

describe('the client id cookie', () => {
    it('reads the id among other cookies, the first one of ours where the browser sends several (the most specific path first)', () => {
        expect(clientIdOfCookie(`session=abc; mashroom-websocket-client=${ID}; other=1`)).toBe(ID);
        expect(clientIdOfCookie(`mashroom-websocket-client=${ID};mashroom-websocket-client=${OTHER}`)).toBe(ID);
        expect(clientIdOfCookie(`mashroom-websocket-client=nonsense; mashroom-websocket-client=${OTHER}`)).toBe(OTHER);
    });

    it('reads nothing from a missing header, another cookie of a similar name, or a value that is not one of our ids', () => {
        expect(clientIdOfCookie(undefined)).toBeNull();
        expect(clientIdOfCookie(`x-mashroom-websocket-client=${ID}`)).toBeNull();
        expect(clientIdOfCookie(`mashroom-websocket-client=${ID.toUpperCase()}`)).toBeNull();
        expect(clientIdOfCookie('mashroom-websocket-client=')).toBeNull();
    });

    it('sets it for the connect path only, HttpOnly and SameSite=Strict, Secure when the request came over TLS', () => {
        expect(clientCookie(ID, '/websocket/messages', request())).toBe(`mashroom-websocket-client=${ID}; Path=/websocket/messages; HttpOnly; SameSite=Strict`);
        expect(clientCookie(ID, '/websocket', request({}, true))).toContain('; Secure');
        expect(clientCookie(ID, '/websocket', request({'x-forwarded-proto': 'https, http'}))).toContain('; Secure');
        expect(clientCookie(ID, '/websocket', request({'x-forwarded-proto': 'http'}))).not.toContain('Secure');
    });

    it('sets none for a connect path that would end its Path attribute early', () => {
        expect(clientCookie(ID, '/websocket/a;Domain=example.com', request())).toBeNull();
        expect(clientCookie(ID, '/websocket/a b', request())).toBeNull();
    });
});
