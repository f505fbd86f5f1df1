const NOTHING = Symbol('nothing');

/**
 * JSON.stringify with a memory of one: a message object sent to many clients in a row (a broadcast loop)
 * is serialised once. The memory lasts until the end of the current turn of the event loop, so an object
 * changed and sent again later is serialised again; a change between two sends within the same
 * synchronous loop is not seen (the clients of that loop all get the same message).
 */
export class MessageSerializer {

    private lastMessage: object | typeof NOTHING = NOTHING;
    private lastData = '';
    private readonly forget = (): void => {
        this.lastMessage = NOTHING;
        this.lastData = '';
    };

    /** Throws a TypeError for what has no JSON form (undefined, a function, a symbol) or cannot be serialised */
    serialize(message: unknown): string {
        if (message === this.lastMessage) {
            return this.lastData;
        }
        const data: string | undefined = JSON.stringify(message);
        if (typeof data !== 'string') {
            throw new TypeError(`A message of type ${typeof message} cannot be sent as JSON`);
        }
        if (typeof message === 'object' && message !== null) {
            if (this.lastMessage === NOTHING) {
                process.nextTick(this.forget);
            }
            this.lastMessage = message;
            this.lastData = data;
        }
        return data;
    }
}
