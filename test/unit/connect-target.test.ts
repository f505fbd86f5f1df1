import {isConnectTargetError, parseConnectTarget} from '../../src/protocol/connect-target';
import {isClientId, newClientId} from '../../src/protocol/client-id';

describe('parseConnectTarget', () => {
    const id = newClientId();

    it.each([
        ['/websocket', ''],
        ['/websocket/', '/'],
        ['/websocket/test', '/test'],
        ['/websocket/chat?x=1', '/chat'],
        ['/websocket/a/b/c?', '/a/b/c'],
        ['/websocket?clientId=abc', ''],
    ])('%s has the connect path "%s"', (url, connectPath) => {
        const target = parseConnectTarget(url, '/websocket');
        expect(isConnectTargetError(target)).toBe(false);
        expect(target).toMatchObject({connectPath});
    });

    it('takes a clientId of our form from the query', () => {
        expect(parseConnectTarget(`/websocket/test?x=1&clientId=${id}`, '/websocket'))
            .toEqual({connectPath: '/test', requestedClientId: id, rejectedClientId: null, lastSeq: null});
    });

    it('treats any other clientId as absent and reports it', () => {
        for (const value of ['abc', '../../etc/passwd', id.toUpperCase(), `${id}x`, '']) {
            expect(parseConnectTarget(`/websocket/t?clientId=${encodeURIComponent(value)}`, '/websocket'))
                .toEqual({connectPath: '/t', requestedClientId: null, rejectedClientId: value, lastSeq: null});
        }
    });

    it('takes lastSeq when it is a whole number', () => {
        expect(parseConnectTarget(`/websocket/t?clientId=${id}&lastSeq=42`, '/websocket')).toMatchObject({lastSeq: 42});
        for (const value of ['-1', '1.5', 'x', '', '1e3', '9'.repeat(20)]) {
            expect(parseConnectTarget(`/websocket/t?lastSeq=${value}`, '/websocket')).toMatchObject({lastSeq: null});
        }
    });

    it('answers 404 below another path that shares the prefix', () => {
        expect(parseConnectTarget('/websocketfoo', '/websocket')).toEqual({status: 404, reason: expect.any(String)});
        expect(parseConnectTarget('/other/websocket', '/websocket')).toEqual({status: 404, reason: expect.any(String)});
    });

    it.each([
        [undefined],
        [''],
        ['websocket/x'],
        ['/websocket/%zz'],
        ['/websocket/x?clientId=%E0%A4%A'],
        ['/websocket/x y'],
        ['/websocket/x#frag'],
        ['/websocket/x\u0000'],
        [`/websocket/${'a'.repeat(9000)}`],
    ])('answers 400 to the malformed URL %j', (url) => {
        expect(parseConnectTarget(url, '/websocket')).toEqual({status: 400, reason: expect.any(String)});
    });
});

describe('client ids', () => {
    it('are random v4 UUIDs that isClientId recognises', () => {
        const ids = new Set(Array.from({length: 1000}, newClientId));
        expect(ids.size).toBe(1000);
        ids.forEach((id) => expect(isClientId(id)).toBe(true));
    });
});
