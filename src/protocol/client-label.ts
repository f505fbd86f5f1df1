/** The parts of a client that name it in a log line besides its id */
export type Labelled = {
    readonly user: {readonly username: string};
    readonly connectPath: string;
};

/**
 * The end of a log line about a client: its user and connect path, so that an operator can search for either,
 * next to the id the line names (the logger context carries user and id as well, but not every appender prints it)
 */
export const userAndPath = ({user, connectPath}: Labelled): string => ` (user ${user.username}, connect path ${connectPath || '/'})`;
