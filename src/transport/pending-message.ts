/** A message accepted by sendMessage whose promise is still open */
export class PendingMessage {
    readonly promise: Promise<void>;
    resolve!: () => void;
    reject!: (error: Error) => void;
    /** Number of the write that carries it on its connection, 0 while it is held back */
    seq = 0;

    /** `data`: the frame as it goes on the wire (for a client of the delivery protocol, once numbered) */
    constructor(public data: string) {
        this.promise = new Promise((resolve, reject) => {
            this.resolve = resolve;
            this.reject = reject;
        });
    }
}

export class ClientGoneError extends Error {
    constructor(clientId: string) {
        super(`WebSocket client ${clientId} is closed`);
        this.name = 'ClientGoneError';
    }
}
