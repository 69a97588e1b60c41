// Before each test file: miniprogram-simulate's own `wx` (which answers every call with canned data) is replaced by
// the harness's; before each test, a new resident on a fresh device. A page's error that would only be logged (an
// event handler throwing, a promise nobody handles) fails the test, and so does a message the resident was shown
// that is not in Chinese.
require('miniprogram-simulate')
const harness = require('./wx')
const network = require('./network')

global.wx = harness.wx

let residents = 0
const problems = []
const runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`

process.on('unhandledRejection', reason => problems.push(`unhandled rejection: ${reason && reason.stack || reason}`))

beforeEach(() => {
  residents += 1
  harness.resetDevice({openid: `mp-${runId}-${residents}`})
  // The pages reach the app this run serves the way a developer points a build at a server (miniprogram/config.js).
  harness.wx.setStorageSync('apiBaseUrl', process.env.MINIPROGRAM_API_BASE)
  network.reset()
  problems.length = 0
  jest.spyOn(console, 'error').mockImplementation((...args) => problems.push(args.map(String).join(' ')))
})

afterEach(() => {
  console.error.mockRestore()
  harness.shown.told.filter(message => !/[\u4e00-\u9fff]/.test(message))
    .forEach(message => problems.push(`shown to the resident, not in Chinese: ${message}`))
  if (problems.length) throw new Error(`the pages went wrong:\n${problems.join('\n')}`)
})
