// 有奖随手拍: the campaign running today, my rewards with their states, and claiming one. The API prepares a WeChat
// Pay transfer (`processing`: asked again shortly) and answers its package_info once WeChat Pay waits for me
// (`ready`); wx.requestMerchantTransfer then shows WeChat's confirmation. Its success only means the page was
// shown: the reward is paid when /rewards/mine says so, which the page reads again afterwards.
const api = require('../../utils/api')
const {beijingTime} = require('../../utils/format')
const {yuan} = require('../../utils/units')

const PROCESSING_RETRY_MS = 2000
const PROCESSING_ASKS = 5
const OUTCOMES = {
  paid: '奖励已到账。',
  processing: '转账正在准备中，请稍后再来领取。',
  confirmed: '已确认收款，到账后这里会显示“已到账”。',
  cancel: '您取消了收款，可随时再次领取。',
  fail: '微信未能完成收款确认，请稍后再试。',
}

function shown(reward) {
  return {
    id: reward.id,
    campaignName: reward.campaign_name,
    reportId: reward.report.id,
    reportCategory: reward.report.category_name,
    reportStatusName: reward.report.status_name,
    reportedAt: beijingTime(reward.report.created_at),
    state: reward.state,
    stateName: reward.state_name,
    amount: yuan(reward.amount_fen),
    explanation: reward.explanation || '',
    claimable: reward.claimable,
  }
}

function wait(milliseconds) {
  return new Promise(resolve => setTimeout(resolve, milliseconds))
}

Component({
  data: {campaign: null, rewards: [], totals: null, claimingId: null, outcome: ''},

  methods: {
    onLoad() {
      return Promise.all([this.loadCampaign(), this.loadRewards()])
    },

    onPullDownRefresh() {
      return this.loadRewards().then(() => wx.stopPullDownRefresh())
    },

    loadCampaign() {
      return api.request('GET', '/api/v1/rewards/campaigns/current', {auth: false})
        .then(({campaign}) => this.setData({campaign: campaign && {
          name: campaign.name, description: campaign.description, rules: campaign.rules,
          period: `${campaign.starts_on} 至 ${campaign.ends_on}`,
        }}))
        .catch(() => {})
    },

    loadRewards() {
      return api.request('GET', '/api/v1/rewards/mine')
        .then(({rewards, totals}) => this.setData({
          rewards: rewards.map(shown),
          totals: {earned: yuan(totals.earned_fen), paid: yuan(totals.paid_fen), owed: yuan(totals.owed_fen)},
        }))
        .catch(() => {})
    },

    // The claim's answer; while the transfer is being prepared, asked again a few times before giving up for now.
    claimAnswer(rewardId, asksLeft) {
      return api.request('GET', `/api/v1/rewards/${rewardId}/claim`).then(answer => {
        if (answer.state !== 'processing' || asksLeft <= 1) return answer
        return wait(PROCESSING_RETRY_MS).then(() => this.claimAnswer(rewardId, asksLeft - 1))
      })
    },

    // WeChat's confirmation page: 'confirmed', or what its errMsg says ('cancel' when the resident closed it).
    confirmTransfer(answer) {
      return new Promise(resolve => wx.requestMerchantTransfer({
        mchId: answer.mch_id,
        appId: answer.app_id,
        package: answer.package_info,
        success: () => resolve('confirmed'),
        fail: ({errMsg}) => resolve(/cancel/.test(errMsg || '') ? 'cancel' : 'fail'),
      }))
    },

    claim(event) {
      const rewardId = Number(event.currentTarget.dataset.id)
      this.setData({claimingId: rewardId, outcome: ''})
      return this.claimAnswer(rewardId, PROCESSING_ASKS)
        .then(answer => (answer.state === 'ready' ? this.confirmTransfer(answer) : answer.state))
        .then(outcome => {
          this.setData({claimingId: null, outcome: OUTCOMES[outcome]})
          return this.loadRewards()
        })
        .catch(() => this.setData({claimingId: null}))
    },

    openReport(event) {
      wx.navigateTo({url: `/pages/report/detail?id=${event.currentTarget.dataset.id}`})
    },
  },
})
