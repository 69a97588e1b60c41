// The app itself keeps nothing: sign-in, the token and the base URL live in utils/api.js and storage, so that
// every page (and the tests, which load pages alone) reach the API the same way.
const api = require('./utils/api')

App({
  onLaunch() {
    // Signs in early so the first page's calls find a token; a failure is shown and retried on the next call.
    api.signIn().catch(() => {})
  },
})
