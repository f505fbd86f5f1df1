// @ts-check
'use strict';

/** The command line options of the bench scripts: `--name` flags and `--name value` options */
const args = process.argv.slice(2);

/** Whether `--name` is given */
const flag = (/** @type {string} */ name) => args.includes(`--${name}`);

/** The value after `--name`, or the fallback */
const option = (/** @type {string} */ name, /** @type {string} */ fallback) => {
    const index = args.indexOf(`--${name}`);
    return index !== -1 && args[index + 1] ? args[index + 1] : fallback;
};

module.exports = {args, flag, option};
