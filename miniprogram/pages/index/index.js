// The home page: the residents' services, each a page of its own.
Component({
  methods: {
    open(event) {
      wx.navigateTo({url: event.currentTarget.dataset.url})
    },
  },
})
