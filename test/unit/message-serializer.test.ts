import {MessageSerializer} from '../../src/protocol/message-serializer';
import {EndOfTurn} from '../../src/transport/end-of-turn';

// One serializer, as one server has it
const serializer = new MessageSerializer(new EndOfTurn());
const serializeMessage = (message: unknown): string => serializer.serialize(message);

/** The end of the current turn: the serializer forgets its last message there */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('serializeMessage', () => {
    it('sends what JSON.stringify makes of a message', () => {
        for (const message of [{a: 1, b: [true, null, 'x']}, [1, 2], 'text', 42, null, {date: new Date(0)}]) {
            expect(serializeMessage(message)).toBe(JSON.stringify(message));
        }
    });

    it('refuses what has no JSON form', () => {
        expect(() => serializeMessage(undefined)).toThrow(TypeError);
        expect(() => serializeMessage(() => 1)).toThrow('cannot be sent as JSON');
        expect(() => serializeMessage(Symbol('s'))).toThrow(TypeError);
    });

    it('serialises a message sent to many clients in a row only twice', async () => {
        await nextTurn();
        const message = {type: 'news', items: [{id: 1, title: 'Grüße'}], count: 1};
        const stringify = jest.spyOn(JSON, 'stringify');
        try {
            for (let client = 0; client < 100; client++) {
                expect(serializeMessage(message)).toBe('{"type":"news","items":[{"id":1,"title":"Grüße"}],"count":1}');
            }
            expect(stringify).toHaveBeenCalledTimes(2);
        } finally {
            stringify.mockRestore();
        }
    });

    it('sends what the message is now when it is changed between sends, at any depth', async () => {
        await nextTurn();
        const message: Record<string, unknown> & {nested: {list: Array<unknown>}} = {to: 'a', nested: {list: [1, 2]}};
        const sent = () => serializeMessage(message);
        sent();
        sent();
        expect(sent()).toBe(JSON.stringify(message));
        message.to = 'b';
        expect(sent()).toBe('{"to":"b","nested":{"list":[1,2]}}');
        sent();
        message.nested.list.push(3);
        expect(sent()).toBe('{"to":"b","nested":{"list":[1,2,3]}}');
        sent();
        message.nested.list[0] = 'one';
        expect(sent()).toBe('{"to":"b","nested":{"list":["one",2,3]}}');
        sent();
        delete message.to;
        message.to = 'c';
        // Same keys, other order
        expect(sent()).toBe('{"nested":{"list":["one",2,3]},"to":"c"}');
        sent();
        message.extra = undefined;
        expect(sent()).toBe(JSON.stringify(message));
    });

    it('serialises every time what is not plain data', async () => {
        await nextTurn();
        let calls = 0;
        const withToJson = {toJSON: () => ({calls: ++calls})};
        expect([serializeMessage(withToJson), serializeMessage(withToJson), serializeMessage(withToJson)]).toEqual(['{"calls":1}', '{"calls":2}', '{"calls":3}']);
        const date = new Date(0);
        const message = {date};
        serializeMessage(message);
        serializeMessage(message);
        date.setTime(1000);
        expect(serializeMessage(message)).toBe(JSON.stringify(message));
        const withNaN = {n: NaN, m: 1};
        serializeMessage(withNaN);
        serializeMessage(withNaN);
        withNaN.m = 2;
        expect(serializeMessage(withNaN)).toBe('{"n":null,"m":2}');
    });

    it('notices a toJSON that an array of the message gets between sends, its own or every array\'s', async () => {
        await nextTurn();
        const list: Array<number> & {toJSON?: () => string} = [1, 2];
        const message = {list};
        serializeMessage(message);
        serializeMessage(message);
        list.toJSON = () => 'own';
        expect(serializeMessage(message)).toBe('{"list":"own"}');
        await nextTurn();
        const other = {list: [3]};
        serializeMessage(other);
        serializeMessage(other);
        const prototype = Array.prototype as unknown as {toJSON?: () => string};
        prototype.toJSON = () => 'every';
        try {
            expect(serializeMessage(other)).toBe('{"list":"every"}');
        } finally {
            delete prototype.toJSON;
        }
    });

    it('forgets the message at the end of the turn', async () => {
        const message = {n: 1};
        serializeMessage(message);
        serializeMessage(message);
        await nextTurn();
        const stringify = jest.spyOn(JSON, 'stringify');
        try {
            serializeMessage(message);
            expect(stringify).toHaveBeenCalledTimes(1);
        } finally {
            stringify.mockRestore();
        }
    });
});
