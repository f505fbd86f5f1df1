import {AckTracker} from '../../src/transport/ack-tracker';

describe('AckTracker', () => {
    it('keeps what was sent until a pong answers a ping sent after it', () => {
        const acks = new AckTracker();
        ['a', 'b', 'c'].forEach((frame) => acks.add(frame));
        expect(acks.needsPing).toBe(true);
        const payload = acks.pingPayload();
        expect(payload).toBe('3');
        expect(acks.needsPing).toBe(false);
        expect(acks.awaitingPong).toBe(true);
        acks.add('d');
        expect(acks.acknowledgePong(payload)).toBe(3);
        expect(acks.awaitingPong).toBe(false);
        expect(acks.needsPing).toBe(true);
        expect(acks.takeAll()).toEqual(['d']);
        expect(acks.unackedBytes).toBe(0);
    });

    it('ignores pongs it did not ask for, stale ones and garbage', () => {
        const acks = new AckTracker();
        acks.add('a');
        acks.add('b');
        expect(acks.acknowledgePong('1')).toBe(0);
        const payload = acks.pingPayload();
        for (const unsolicited of ['', 'x', '-1', '0', '3', '1.5']) {
            expect(acks.acknowledgePong(unsolicited)).toBe(0);
        }
        expect(acks.acknowledgePong(payload)).toBe(2);
        expect(acks.acknowledgePong(payload)).toBe(0);
        expect(acks.takeAll()).toEqual([]);
    });

    it('acknowledges from the oldest frame on while a condition holds', () => {
        const acks = new AckTracker();
        ['1', '2', '3', '4'].forEach((frame) => acks.add(frame));
        expect(acks.acknowledgeWhile((frame) => Number(frame) <= 2)).toBe(2);
        expect(acks.sent).toBe(4);
        expect(acks.unackedBytes).toBe(2);
        expect(acks.takeAll()).toEqual(['3', '4']);
    });

    it('stays correct across many acknowledgements (compaction)', () => {
        const acks = new AckTracker();
        let acknowledged = 0;
        for (let n = 0; n < 5000; n++) {
            acks.add(String(n));
            if (n % 7 === 0) {
                acks.acknowledgePong(acks.pingPayload());
                acknowledged = n + 1;
            }
        }
        expect(acks.takeAll()).toEqual(Array.from({length: 5000 - acknowledged}, (_, index) => String(acknowledged + index)));
    });

    it('counts bytes, not characters', () => {
        const acks = new AckTracker();
        acks.add('ü🌍');
        expect(acks.unackedBytes).toBe(6);
    });

    it('for the delivery protocol: a pong says what was read, only an ack lets it go', () => {
        const acks = new AckTracker();
        ['aa', 'bbb', 'cccc'].forEach((frame) => acks.add(frame));
        const first = acks.pingPayload();
        acks.add('ddddd');
        expect(acks.awaitingPong).toBe(true);
        expect(acks.unreadBytes).toBe(14);
        acks.confirmRead(first);
        expect(acks.awaitingPong).toBe(false);
        expect(acks.unreadBytes).toBe(5);
        // Read, but all still kept
        expect(acks.unackedBytes).toBe(14);
        // Garbage and stale pongs change nothing
        ['', 'x', '0', '2', '9'].forEach((payload) => acks.confirmRead(payload));
        expect(acks.unreadBytes).toBe(5);
        acks.acknowledgeWhile((frame) => frame.length <= 3);
        expect(acks.unackedBytes).toBe(9);
        expect(acks.unreadBytes).toBe(5);
        // An ack beyond what a pong confirmed counts as read too
        acks.acknowledgeWhile(() => true);
        expect(acks.unackedBytes).toBe(0);
        expect(acks.unreadBytes).toBe(0);
        expect(acks.awaitingPong).toBe(false);
        acks.add('e');
        const second = acks.pingPayload();
        expect(second).toBe('5');
        acks.confirmRead(second);
        expect(acks.unreadBytes).toBe(0);
        expect(acks.takeAll()).toEqual(['e']);
    });

    it('leaves a replay out of what judges the pace, until it is read and acknowledged', () => {
        const acks = new AckTracker();
        // The replay: 2 + 3 bytes; then 4 bytes sent after it
        ['aa', 'bbb'].forEach((frame) => acks.add(frame));
        acks.markReplay();
        acks.add('cccc');
        expect([acks.unreadBytes, acks.unackedBytes]).toEqual([9, 9]);
        expect([acks.unreadBytesBeyondReplay, acks.unackedBytesBeyondReplay, acks.readUnackedBytesBeyondReplay]).toEqual([4, 4, 0]);
        // A pong says the first replayed frame was read
        acks.add('d');
        const afterAll = acks.pingPayload();
        acks.confirmRead('1');
        expect([acks.unreadBytesBeyondReplay, acks.readUnackedBytesBeyondReplay]).toEqual([5, 0]);
        // Everything read: what was read beyond the replay is 5 bytes, unacknowledged
        acks.confirmRead(afterAll);
        expect([acks.unreadBytesBeyondReplay, acks.unackedBytesBeyondReplay, acks.readUnackedBytesBeyondReplay]).toEqual([0, 5, 5]);
        // Acknowledging the replay and one more frame leaves only the last frame
        acks.acknowledgeWhile((frame) => frame !== 'd');
        expect([acks.unackedBytes, acks.unackedBytesBeyondReplay, acks.readUnackedBytesBeyondReplay]).toEqual([1, 1, 1]);
        acks.takeAll();
        expect([acks.unreadBytesBeyondReplay, acks.unackedBytesBeyondReplay, acks.readUnackedBytesBeyondReplay]).toEqual([0, 0, 0]);
    });

    it('counts a replayed frame acknowledged before any pong as neither unread nor unacknowledged', () => {
        const acks = new AckTracker();
        ['aa', 'bbb'].forEach((frame) => acks.add(frame));
        acks.markReplay();
        acks.add('cccc');
        // A plain client's pong acknowledges: the whole replay goes, then the rest
        acks.pingPayload();
        acks.acknowledgeWhile((frame) => frame === 'aa');
        expect([acks.unreadBytes, acks.unreadBytesBeyondReplay, acks.unackedBytesBeyondReplay]).toEqual([7, 4, 4]);
        expect(acks.acknowledgePong('3')).toBe(7);
        expect([acks.unreadBytes, acks.unackedBytes, acks.unreadBytesBeyondReplay, acks.unackedBytesBeyondReplay]).toEqual([0, 0, 0, 0]);
    });
});

describe('AckTracker.behindBytes', () => {
    let now = 1_000_000;
    beforeEach(() => {
        jest.spyOn(Date, 'now').mockImplementation(() => now);
    });
    afterEach(() => {
        jest.restoreAllMocks();
    });

    it('counts what a ping asked about once the answer is late: 25 ms, or four of its quickest round trips', () => {
        const acks = new AckTracker();
        acks.add('aaaa');
        expect(acks.behindBytes).toBe(0);
        const first = acks.pingPayload();
        acks.add('bb');
        now += 25;
        expect(acks.behindBytes).toBe(0);
        now += 1;
        // What came after the ping does not count
        expect(acks.behindBytes).toBe(4);
        // Answered after 40 ms: from now on it may take 160 ms
        now += 14;
        expect(acks.acknowledgePong(first)).toBe(4);
        expect(acks.behindBytes).toBe(0);
        acks.pingPayload();
        now += 160;
        expect(acks.behindBytes).toBe(0);
        now += 1;
        expect(acks.behindBytes).toBe(2);
    });

    it('starts the clock at the oldest ping not answered: pings while one is outstanding do not reset it', () => {
        const acks = new AckTracker();
        acks.add('aaaa');
        acks.pingPayload();
        now += 20;
        acks.add('bb');
        acks.pingPayload();
        now += 6;
        expect(acks.behindBytes).toBe(6);
    });

    it('for a client of the delivery protocol: what it has read does not count, and a pong after its acknowledgement still answers', () => {
        const acks = new AckTracker();
        acks.add('aaaa');
        acks.add('bb');
        const payload = acks.pingPayload();
        now += 10;
        // The explicit acknowledgement comes before the pong
        acks.acknowledgeWhile((frame) => frame === 'aaaa');
        acks.confirmRead(payload);
        now += 100;
        expect(acks.behindBytes).toBe(0);
        acks.add('c');
        acks.pingPayload();
        now += 41;
        // Its quickest round trip was 10 ms: 40 ms is the grace now. Of what the ping asked about it has read 'bb'
        // (not acknowledged yet), not 'c'
        expect(acks.behindBytes).toBe(1);
    });
});
