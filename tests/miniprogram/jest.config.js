// The page tests: each file drives pages of ../../miniprogram against the app the test run serves
// (tests/miniprogram/test_pages.py starts it and passes MINIPROGRAM_* in the environment).
module.exports = {
  testEnvironment: 'jsdom',
  testMatch: ['<rootDir>/pages/**/*.test.js'],
  setupFilesAfterEnv: ['<rootDir>/harness/setup.js'],
  // Uploads of several megabytes through a real server on a shared machine: a bound, not a timing assertion.
  testTimeout: 300 * 1000,
  maxWorkers: 1,
}
