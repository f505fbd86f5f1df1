export const TOO_LATE = Symbol('too late');

/** The promise's value, or TOO_LATE at the deadline (a time in ms); a late rejection is swallowed, not left unhandled */
export const beforeDeadline = <T>(promise: Promise<T>, deadline: number): Promise<T | typeof TOO_LATE> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<typeof TOO_LATE>((resolve) => {
        timer = setTimeout(() => resolve(TOO_LATE), Math.max(0, deadline - Date.now()));
    });
    promise.catch(() => undefined);
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
};

/** The promise's value, or TOO_LATE if it takes longer than `timeoutMs` */
export const withTimeout = <T>(promise: Promise<T>, timeoutMs: number): Promise<T | typeof TOO_LATE> =>
    beforeDeadline(promise, Date.now() + timeoutMs);
