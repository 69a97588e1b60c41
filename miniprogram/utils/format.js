// How the pages write what the API gives: times are UTC ISO 8601 and shown in Beijing time, whatever the phone's
// own time zone.
const BEIJING_OFFSET_MS = 8 * 60 * 60 * 1000

function pad(number) {
  return String(number).padStart(2, '0')
}

function beijingTime(iso) {
  const at = new Date(Date.parse(iso) + BEIJING_OFFSET_MS)
  return `${at.getUTCFullYear()}-${pad(at.getUTCMonth() + 1)}-${pad(at.getUTCDate())} `
    + `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}`
}

module.exports = {beijingTime}
