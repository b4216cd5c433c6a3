// <fp-earnings :earnings="earnings">: fees earned per day by the whole node.
window.app.component('fp-earnings', {
  template: '#fp-earnings',
  props: {
    earnings: {type: Object, default: null},
    loading: Boolean,
    days: {type: Number, default: 30}
  },
  emits: ['update:days'],
  data() {
    return {
      dayOptions: [
        {label: '7 days', value: 7},
        {label: '30 days', value: 30},
        {label: '90 days', value: 90}
      ]
    }
  },
  computed: {
    rows() {
      return (this.earnings && this.earnings.days) || []
    },
    totals() {
      return this.rows.reduce(
        (t, d) => ({fees: t.fees + d.fees_msat / 1000, forwards: t.forwards + d.forwards, volume: t.volume + d.volume_sat}),
        {fees: 0, forwards: 0, volume: 0}
      )
    },
    spec() {
      return {
        type: 'bar',
        data: {
          labels: this.rows.map(d => FeePilot.when(d.day).slice(5, 10)),
          datasets: [
            {label: 'Fees earned (sat)', data: this.rows.map(d => d.fees_msat / 1000), backgroundColor: '#66bb6a', yAxisID: 'fees'},
            {label: 'Forwards', type: 'line', data: this.rows.map(d => d.forwards), borderColor: '#ff9800', backgroundColor: '#ff9800', yAxisID: 'forwards', pointRadius: 1}
          ]
        },
        options: {
          scales: {
            x: {},
            fees: {type: 'linear', position: 'left', beginAtZero: true, title: {display: true, text: 'sat'}},
            forwards: {type: 'linear', position: 'right', beginAtZero: true, grid: {drawOnChartArea: false}, title: {display: true, text: 'forwards'}}
          }
        }
      }
    }
  },
  methods: {
    ...FeePilot.methods
  }
})
