// What tests/miniprogram/conftest.py prepared: the device's files and position, and what the city already holds.
if (!process.env.MINIPROGRAM_FIXTURES) {
  throw new Error('run the page tests through pytest (tests/miniprogram/test_pages.py), which serves the app')
}

module.exports = JSON.parse(process.env.MINIPROGRAM_FIXTURES)
