// Console logging for the demo server; LOG_LEVEL=debug shows the plugin's debug lines
module.exports = {
    appenders: {
        console: {
            type: 'console',
            layout: {type: 'pattern', pattern: '%d{hh:mm:ss.SSS} %p %c - %m'},
        },
    },
    categories: {
        default: {appenders: ['console'], level: process.env.LOG_LEVEL || 'info'},
    },
};
