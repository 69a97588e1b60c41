// The seeded pages' residents are known by openid (tests/miniprogram/seeds.py made their reports, application and
// rewards), and sign in again in each test and run: each sign-in needs a wx.login code never used before.
const {device} = require('../../harness/wx')

function signInAs(openid) {
  device.openid = openid
  device.loginCount = Date.now()
}

module.exports = {signInAs}
