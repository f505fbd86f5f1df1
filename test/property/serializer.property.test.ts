import fc from 'fast-check';
import {MessageSerializer} from '../../src/protocol/message-serializer';
import {EndOfTurn} from '../../src/transport/end-of-turn';

// One serializer, as one server has it
const serializer = new MessageSerializer(new EndOfTurn());
const serializeMessage = (message: unknown): string => serializer.serialize(message);

type Container = Record<string, unknown> | Array<unknown>;

/** Every object and array in the message, the message first */
const containersOf = (value: unknown, into: Array<Container> = []): Array<Container> => {
    if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
        into.push(value as Container);
        Object.values(value).forEach((child) => containersOf(child, into));
    }
    return into;
};

// JSON values, and now and then something JSON.stringify treats its own way
const anyValue = fc.oneof(
    {weight: 8, arbitrary: fc.jsonValue({maxDepth: 3})},
    fc.constantFrom(undefined, NaN, -0, Infinity),
    fc.constant(null).map(() => new Date(0)),
);

const change = fc.record({
    // Which container, which key, what to do
    where: fc.nat(),
    key: fc.oneof(fc.constantFrom('a', 'b', 'c', '0', '1', '10'), fc.string({maxLength: 3})),
    action: fc.constantFrom('set', 'delete', 'push', 'send'),
    value: anyValue,
});

describe('properties of the message serializer', () => {
    it('always sends what JSON.stringify makes of the message as it is, however it is changed between sends', () => {
        fc.assert(fc.property(fc.dictionary(fc.string({maxLength: 3}), fc.jsonValue({maxDepth: 3})), fc.array(change, {maxLength: 40}), (message, changes) => {
            expect(serializeMessage(message)).toBe(JSON.stringify(message));
            for (const {where, key, action, value} of changes) {
                const containers = containersOf(message);
                const target = containers[where % containers.length];
                if (action === 'set') {
                    (target as Record<string, unknown>)[key] = value;
                } else if (action === 'delete') {
                    delete (target as Record<string, unknown>)[key];
                } else if (action === 'push' && Array.isArray(target)) {
                    target.push(value);
                }
                // Several sends in a row, as to many clients
                for (let client = 0; client < 3; client++) {
                    expect(serializeMessage(message)).toBe(JSON.stringify(message));
                }
            }
        }), {numRuns: 2000});
    });
});
