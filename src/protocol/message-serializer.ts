// Larger messages are rare to repeat and their record would cost more than it saves
const MAX_NODES = 1000;

// Markers in a record, which no message value can be
const OBJECT = Symbol('object');
const ARRAY = Symbol('array');

const hasToJSON = (value: object): boolean => typeof (value as {toJSON?: unknown}).toJSON === 'function';

const isPlainObject = (value: object): boolean => {
    const prototype = Object.getPrototypeOf(value) as unknown;
    return (prototype === Object.prototype || prototype === null) && !hasToJSON(value);
};

// An array of its own kind, without a toJSON of its own or on Array.prototype
const isPlainArray = (value: Array<unknown>): boolean => Object.getPrototypeOf(value) === Array.prototype && !hasToJSON(value);

/** Record what JSON.stringify reads of value; false if it is not plain data (or too large) */
const record = (value: unknown, into: Array<unknown>): boolean => {
    if (into.length > MAX_NODES) {
        return false;
    }
    if (value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
        into.push(value);
        return true;
    }
    if (typeof value !== 'object') {
        // undefined, NaN, a function, a symbol, a bigint: left to JSON.stringify every time
        return false;
    }
    if (Array.isArray(value)) {
        if (!isPlainArray(value)) {
            return false;
        }
        into.push(ARRAY, value.length);
        for (let index = 0; index < value.length; index++) {
            if (!record(value[index], into)) {
                return false;
            }
        }
        return true;
    }
    if (!isPlainObject(value)) {
        return false;
    }
    const keys = Object.keys(value);
    into.push(OBJECT, keys.length);
    for (const key of keys) {
        into.push(key);
        if (!record((value as Record<string, unknown>)[key], into)) {
            return false;
        }
    }
    return true;
};

/** Whether value still is what was recorded, from position `at`; the position after it, or -1 */
const matches = (value: unknown, recorded: Array<unknown>, at: number): number => {
    if (value === null || typeof value !== 'object') {
        return recorded[at] === value ? at + 1 : -1;
    }
    if (Array.isArray(value)) {
        if (recorded[at] !== ARRAY || recorded[at + 1] !== value.length || !isPlainArray(value)) {
            return -1;
        }
        let next = at + 2;
        for (let index = 0; index < value.length && next >= 0; index++) {
            next = matches(value[index], recorded, next);
        }
        return next;
    }
    if (recorded[at] !== OBJECT || !isPlainObject(value)) {
        return -1;
    }
    const count = recorded[at + 1] as number;
    let next = at + 2;
    let seen = 0;
    for (const key in value) {
        if (!Object.prototype.hasOwnProperty.call(value, key)) {
            continue;
        }
        if (seen++ >= count || recorded[next] !== key) {
            return -1;
        }
        next = matches((value as Record<string, unknown>)[key], recorded, next + 1);
        if (next < 0) {
            return -1;
        }
    }
    return seen === count ? next : -1;
};


const stringify = (message: unknown): string => {
    const data: string | undefined = JSON.stringify(message);
    if (typeof data !== 'string') {
        throw new TypeError(`A message of type ${typeof message} cannot be sent as JSON`);
    }
    return data;
};

/** Where the serializer asks to be told that the turn has ended */
export type TurnEnd = {atEnd(job: () => void): void};

/**
 * JSON.stringify for sendMessage, with a TypeError for what has no JSON form (undefined, a function, a symbol)
 * instead of sending "undefined". A message object sent to many clients in a row is serialised twice, not once
 * per client, and never sent as it was when it has changed since (docs/ARCHITECTURE.md, "Serialisation reuse").
 * One per server: what it remembers is dropped at the end of every turn in which it remembered something.
 */
export class MessageSerializer {

    #lastMessage: unknown = undefined;
    #lastData = '';
    // What JSON.stringify read of the last message, flattened: 'once' until the same message comes a second
    // time, 'not plain' if it cannot be recorded or was changed between sends
    #lastRecord: Array<unknown> | 'once' | 'not plain' = 'once';
    #clearScheduled = false;
    readonly #clear = (): void => {
        this.#clearScheduled = false;
        this.#lastMessage = undefined;
        this.#lastData = '';
        this.#lastRecord = 'once';
    };

    constructor(private readonly turn: TurnEnd) {
    }

    serialize(message: unknown): string {
        if (message === null || typeof message !== 'object') {
            return stringify(message);
        }
        if (message === this.#lastMessage) {
            const lastRecord = this.#lastRecord;
            if (lastRecord === 'once') {
                // The second time: serialise once more, and record what that read
                const data = stringify(message);
                const recorded: Array<unknown> = [];
                this.#lastRecord = record(message, recorded) ? recorded : 'not plain';
                this.#lastData = data;
                return data;
            }
            if (lastRecord !== 'not plain' && matches(message, lastRecord, 0) === lastRecord.length) {
                return this.#lastData;
            }
            // Not plain, or changed since: a caller that changes the message between sends gets it serialised
            // every time, without recording it again and again
            this.#lastRecord = 'not plain';
            return stringify(message);
        }
        const data = stringify(message);
        this.#lastMessage = message;
        this.#lastData = data;
        this.#lastRecord = 'once';
        if (!this.#clearScheduled) {
            this.#clearScheduled = true;
            this.turn.atEnd(this.#clear);
        }
        return data;
    }
}
