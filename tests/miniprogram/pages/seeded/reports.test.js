// 我的反映: my reports page by page, one closed on the desk shown with its timeline (the staff's public reply and
// photo), rated and reopened; a request for more information answered with a photo and a voice note; a report
// withdrawn; the reports I follow in a list of their own.
const fs = require('fs')

const api = require('../../../../miniprogram/utils/api')
const files = require('../../harness/files')
const fixtures = require('../../harness/fixtures')
const network = require('../../harness/network')
const {device, shown} = require('../../harness/wx')
const {signInAs} = require('./resident')
const {openPage, followNavigation, waitFor, tap, trigger, text, texts} = require('../../harness/pages')

const seeded = fixtures.myReports

function callsTo(method, path) {
  return network.calls.filter(call => call.method === method && call.path === path).map(call => call.status)
}

test('a closed report found on the second page, its timeline read, rated and reopened', async () => {
  signInAs(seeded.openid)
  device.media.push([{path: fixtures.files.second_photo, fileType: 'image'}])

  const list = openPage('pages/reports/mine')
  await waitFor(() => list.instance.data.items.length && !list.instance.data.loading, 'the first page')
  expect(list.instance.data.items).toHaveLength(10)
  expect(list.instance.data.items[0].id).toBe(seeded.newestId)
  expect(list.instance.data.items.map(item => item.id)).not.toContain(seeded.closedId)
  expect(texts(list, '.asked')).toEqual(['工作人员请您补充信息'])
  await tap(list, '#load-more')
  await waitFor(() => list.instance.data.finished && !list.instance.data.loading, 'the second page')
  expect(list.instance.data.items).toHaveLength(11)
  expect(text(list, `#report-${seeded.closedId} .status`)).toBe('已结案')

  await tap(list, `#report-${seeded.closedId}`)
  await waitFor(() => shown.navigations.length, 'the report opened')
  const page = followNavigation()
  await waitFor(() => page.instance.data.report, 'the report')
  const timeline = page.instance.data.report.timeline
  expect(timeline[0].statusName).toBe('已结案')
  const reply = timeline.find(step => step.note === seeded.staffReply)
  expect(reply.by).toBe('处置部门')
  expect(reply.photos).toHaveLength(1)
  expect(reply.photos[0].large).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\//)
  expect(texts(page, '.note')).toContain(seeded.staffReply)
  expect(page.instance.data.report.canRate && page.instance.data.report.canReopen).toBe(true)
  expect(page.instance.data.report.canWithdraw || page.instance.data.report.canReply).toBe(false)

  // Rated two stars: the rating is kept and the form gives way to it.
  await tap(page, '#submit-rating')
  await waitFor(() => shown.toasts.length, 'asked for stars first')
  expect(shown.toasts).toEqual(['请先选择评分'])
  await tap(page, '#star-2')
  await trigger(page, '#rating-comment', 'input', {value: '只清理了路口西侧。'})
  await tap(page, '#submit-rating')
  await waitFor(() => page.instance.data.report.rating === 2, 'the rating recorded')
  expect(page.querySelector('#submit-rating')).toBeFalsy()
  expect(texts(page, '.rated .star')).toHaveLength(2)

  // A reason of spaces is refused by the API, in its words; then reopened with a photo taken now.
  await trigger(page, '#reopen-reason', 'input', {value: '   '})
  await tap(page, '#reopen')
  await waitFor(() => !page.instance.data.busy && shown.modals.length, 'the refusal shown')
  expect(shown.modals).toEqual([{title: '提示', content: '请填写重新办理的理由。（理由）'}])
  await trigger(page, '#reopen-reason', 'input', {value: '东侧绿化带旁的垃圾仍在。'})
  await tap(page, '#add-reopen-photo')
  await waitFor(() => page.instance.data.reopenPhotos.length === 1, 'the photo taken')
  await tap(page, '#reopen')
  await waitFor(() => page.instance.data.report.status === 'in_progress', 'the report reopened')
  const reopening = page.instance.data.report.timeline[0]
  expect(reopening).toMatchObject({statusName: '处置中', by: '我', mine: true, note: '您已申请重新办理：东侧绿化带旁的垃圾仍在。'})
  expect(reopening.photos).toHaveLength(1)
  expect(page.instance.data.report.canReopen).toBe(false)
  expect(callsTo('POST', `/api/v1/reports/${seeded.closedId}/reopen`)).toEqual([422, 200])
  expect(callsTo('POST', '/api/v1/media')).toEqual([201])
})

test('a request for more information answered with a photo and a voice note', async () => {
  signInAs(seeded.openid)
  device.media.push([{path: fixtures.files.photo, fileType: 'image'}])
  device.recording = {path: fixtures.files.voice, duration: 3000}

  const page = openPage('pages/report/detail', {id: seeded.askedId})
  await waitFor(() => page.instance.data.report, 'the report')
  expect(page.instance.data.report.canReply).toBe(true)
  expect(page.instance.data.report.timeline[0].note).toBe(`需要您补充信息：${seeded.informationRequest}`)

  await trigger(page, '#answer-text', 'input', {value: '垃圾在路口东南角的绿化带旁，已补拍近景。'})
  await tap(page, '#add-answer-photo')
  await waitFor(() => page.instance.data.answerPhotos.length === 1, 'the photo taken')

  // A first voice note, recorded (the answer waits for the recorder to stop) and removed before sending.
  await tap(page, '#start-recording')
  await waitFor(() => page.instance.data.recording, 'the recorder started')
  await tap(page, '#send-answer')
  expect(shown.toasts).toEqual(['请先停止录音'])
  await tap(page, '#stop-recording')
  await waitFor(() => page.instance.data.attachments.some(item => item.mediaId), 'the first voice note uploaded')
  const removedId = page.instance.data.attachments[0].mediaId
  await tap(page, '.attachment-audio .remove')
  expect(page.instance.data.attachments).toEqual([])
  expect(page.querySelector('.attachment-audio')).toBeFalsy()

  // Recorded again: it goes up at once, its progress shown, and is sent with the photo.
  device.recording = {path: fixtures.files.second_voice, duration: 2000}
  await tap(page, '#start-recording')
  await waitFor(() => page.instance.data.recording, 'the recorder started again')
  await tap(page, '#stop-recording')
  await waitFor(() => page.instance.data.attachments.some(item => item.mediaId), 'the voice note uploaded')
  expect(texts(page, '.attachment-audio .uploaded')).toEqual(['已上传'])
  const voiceId = page.instance.data.attachments[0].mediaId
  await tap(page, '#send-answer')
  await waitFor(() => !page.instance.data.report.canReply, 'the answer sent')
  const answer = page.instance.data.report.timeline[0]
  expect(answer).toMatchObject({by: '我', note: '垃圾在路口东南角的绿化带旁，已补拍近景。'})
  expect(answer.photos).toHaveLength(1)
  expect(answer.voices).toHaveLength(1)
  expect(texts(page, '.step.mine .voice')).toEqual(['▶ 语音'])
  expect(page.querySelector('#send-answer')).toBeFalsy()
  expect(page.instance.data.attachments).toEqual([])

  // The photo went up whole, as the camera took it; each voice note as the recorder's AAC, its progress to 100.
  const upload = network.uploads.find(each => each.filePath.endsWith('IMG_photo.jpg'))
  expect(upload.bytes).toBeGreaterThan(3 * 1024 * 1024)
  const voiceUploads = network.uploads.filter(each => each.filePath.endsWith('.aac'))
  expect(voiceUploads).toHaveLength(2)
  voiceUploads.forEach(each => expect(each.progress[each.progress.length - 1]).toBe(100))
  expect(callsTo('POST', '/api/v1/media')).toEqual([201, 201, 201])
  expect(callsTo('POST', `/api/v1/reports/${seeded.askedId}/reply`)).toEqual([200])

  // The report's timeline, which the moderator's report page reads too, holds the photo and the second voice note
  // only, playable as AAC.
  const report = await api.request('GET', `/api/v1/reports/${seeded.askedId}`)
  const replied = report.timeline[report.timeline.length - 1]
  expect(replied.by).toBe('resident')
  expect(replied.media.map(item => item.kind).sort()).toEqual(['audio', 'photo'])
  const voice = replied.media.find(item => item.kind === 'audio')
  expect(voice.id).toBe(voiceId)
  expect(replied.media.map(item => item.id)).not.toContain(removedId)
  const played = fs.readFileSync(files.realPath(await api.download(voice.urls.large)))
  // An ADTS frame's sync word: twelve bits set.
  expect(played[0]).toBe(0xff)
  expect(played[1] & 0xf0).toBe(0xf0)
})

test('a report not yet reviewed is withdrawn after the resident confirms', async () => {
  signInAs(seeded.openid)
  const page = openPage('pages/report/detail', {id: seeded.newestId})
  await waitFor(() => page.instance.data.report, 'the report')
  expect(page.instance.data.report.canWithdraw).toBe(true)
  await tap(page, '#withdraw')
  await waitFor(() => page.instance.data.report.status === 'withdrawn', 'the report withdrawn')
  expect(shown.modals[0].title).toBe('撤回反映')
  expect(text(page, '.status')).toBe('已撤回')
  expect(page.querySelector('#withdraw')).toBeFalsy()
})

test('a report I added my voice to, in the list of those I follow', async () => {
  signInAs(seeded.openid)
  const list = openPage('pages/reports/mine')
  await waitFor(() => list.instance.data.items.length && !list.instance.data.loading, 'my reports')
  await tap(list, '#list-following')
  await waitFor(() => list.instance.data.list === 'following' && !list.instance.data.loading, 'the reports I follow')
  expect(list.instance.data.items.map(item => item.id)).toEqual([seeded.followedId])
  expect(text(list, `#report-${seeded.followedId} .relation`)).toBe('我附议的')
  expect(text(list, `#report-${seeded.followedId} .description`)).toBe('路灯整晚不亮。')
  expect(list.instance.data.finished).toBe(true)

  await tap(list, `#report-${seeded.followedId}`)
  await waitFor(() => shown.navigations.length, 'the report opened')
  const page = followNavigation()
  await waitFor(() => page.instance.data.report, 'the report')
  const report = page.instance.data.report
  expect(report.relation).toBe('me_too')
  expect([report.canWithdraw, report.canReply, report.canRate, report.canReopen]).toEqual([false, false, false, false])
  expect(callsTo('GET', '/api/v1/reports/following')).toEqual([200])
})
