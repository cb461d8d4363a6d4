package emulator

// The fixed catalogues the synthetic library draws from: cameras with the
// EXIF strings Amazon sends (API.md §2.4: rationals as strings, width and
// height as integers), face clusters, and places.

// Camera groups decide folder, file naming and createdBy.
const (
	camApple = iota
	camAndroid
	camDSLR
	camWeb        // images without EXIF: only width and height
	camScreenshot // likewise
	camVideo
)

type camera struct {
	group            int
	make, model      string
	aperture, focal  string
	software         string
	width, height    int
	from, to         int    // years the model was in use
	codec            string // videos
	frameRate, vrate float64
	frag             []byte // pre-rendered constant JSON members of "image"/"video"
}

var cameras = []camera{
	{group: camApple, make: "Apple", model: "iPhone 4S", aperture: "4281/1441", focal: "107/25", software: "6.1.3", width: 3264, height: 2448, from: 2011, to: 2013},
	{group: camApple, make: "Apple", model: "iPhone 5s", aperture: "4281/1441", focal: "103/25", software: "8.4", width: 3264, height: 2448, from: 2013, to: 2015},
	{group: camApple, make: "Apple", model: "iPhone 6", aperture: "4281/1441", focal: "83/20", software: "9.3.5", width: 3264, height: 2448, from: 2014, to: 2016},
	{group: camApple, make: "Apple", model: "iPhone 7", aperture: "1695994/1000000", focal: "399/100", software: "11.4.1", width: 4032, height: 3024, from: 2016, to: 2018},
	{group: camApple, make: "Apple", model: "iPhone 8 Plus", aperture: "54823/32325", focal: "399/100", software: "12.1", width: 1348, height: 2049, from: 2017, to: 2019},
	{group: camApple, make: "Apple", model: "iPhone XS", aperture: "54823/32325", focal: "17/4", software: "12.3.1", width: 3024, height: 4032, from: 2018, to: 2021},
	{group: camApple, make: "Apple", model: "iPhone XR", aperture: "54823/32325", focal: "17/4", software: "13.5.1", width: 3024, height: 4032, from: 2018, to: 2021},
	{group: camApple, make: "Apple", model: "iPhone 11 Pro Max", aperture: "54823/32325", focal: "17/4", software: "14.4", width: 3024, height: 4032, from: 2019, to: 2022},
	{group: camApple, make: "Apple", model: "iPhone 12 Pro", aperture: "14447/10653", focal: "21/5", software: "15.2", width: 1536, height: 2048, from: 2020, to: 2023},
	{group: camApple, make: "Apple", model: "iPhone 13", aperture: "14447/10653", focal: "26/5", software: "16.1", width: 4032, height: 3024, from: 2021, to: 2024},
	{group: camApple, make: "Apple", model: "iPhone 15 Pro", aperture: "14447/10653", focal: "1573/100", software: "17.4", width: 4032, height: 3024, from: 2023, to: 9999},
	{group: camAndroid, make: "SAMSUNG", model: "SAMSUNG-SGH-I747", aperture: "276/100", focal: "37/10", software: "I747UCALG1", width: 3264, height: 2448, from: 2012, to: 2015},
	{group: camAndroid, make: "samsung", model: "SM-G991B", aperture: "169/100", focal: "54/10", software: "G991BXXU5CVLL", width: 4000, height: 3000, from: 2021, to: 9999},
	{group: camAndroid, make: "Google", model: "Pixel 3", aperture: "169/100", focal: "444/100", software: "HDR+ 1.0.245493207zd", width: 4032, height: 3024, from: 2018, to: 2021},
	{group: camAndroid, make: "Google", model: "Pixel 7", aperture: "185/100", focal: "681/100", software: "HDR+ 1.0.540104767zd", width: 4080, height: 3072, from: 2022, to: 9999},
	{group: camDSLR, make: "Canon", model: "Canon EOS 5D Mark II", aperture: "8.0", focal: "42", software: "Digital Photo Professional", width: 5616, height: 3744, from: 2006, to: 9999},
	{group: camDSLR, make: "NIKON CORPORATION", model: "NIKON D750", aperture: "4970854/1000000", focal: "50/1", software: "Ver.1.10", width: 6016, height: 4016, from: 2014, to: 9999},
	{group: camDSLR, make: "SONY", model: "ILCE-7M3", aperture: "4/1", focal: "35/1", software: "ILCE-7M3 v3.01", width: 6000, height: 4000, from: 2018, to: 9999},
	{group: camWeb, width: 1200, height: 800, from: 0, to: 9999},
	{group: camWeb, width: 1920, height: 1080, from: 0, to: 9999},
	{group: camWeb, width: 800, height: 600, from: 0, to: 9999},
	{group: camScreenshot, width: 2560, height: 1440, from: 0, to: 9999},
	{group: camScreenshot, width: 1170, height: 2532, from: 0, to: 9999},
	{group: camVideo, make: "Apple", model: "iPhone XS", width: 1920, height: 1080, codec: "h264", frameRate: 29.97, vrate: 15876000, from: 0, to: 9999},
	{group: camVideo, make: "Apple", model: "iPhone 13", width: 3840, height: 2160, codec: "hevc", frameRate: 59.94, vrate: 48210000, from: 0, to: 9999},
	{group: camVideo, make: "samsung", model: "SM-G991B", width: 1920, height: 1080, codec: "h264", frameRate: 30, vrate: 17012000, from: 0, to: 9999},
	{group: camVideo, make: "", model: "", width: 1280, height: 720, codec: "h264", frameRate: 25, vrate: 4012000, from: 0, to: 9999},
}

var (
	exposures = []string{"1/4", "1/15", "1/30", "1/60", "1/120", "1/250", "1/500", "1/640", "1/1000", "1/1780", "1/2000", "1/4000"}
	isos      = []string{"25", "32", "50", "64", "100", "125", "200", "400", "800", "1600", "3200"}
	flashes   = []string{"Off, Did not fire", "No", "On, Fired", "Auto, Did not fire", "Auto, Fired"}
	orients   = []string{"1", "6", "3", "8"}
	rotations = []int{0, 90, 180, 270}
)

// cluster is a face cluster ("people" aggregation, API.md §3.5). hero is
// the cover set by PUT /cluster/hero (a node id; "" for the default, the
// newest photo of the person); mergedInto is the index of the cluster it
// was merged into by POST /cluster, -1 while it stands on its own.
type cluster struct {
	id, name   string
	hero       string
	mergedInto int
}

var clusterNames = []string{"Mom", "Dad", "Alex", "Sam", "Grandma", "", "", "Jordan", "", "Taylor", "", "", "Chris", "", "", ""}

// place is a location ("location" aggregation: ISO3#stateCode#City).
type place struct{ id, city, state, stateCode, country, iso3 string }

var places = []place{
	{"CAN#BC#Vancouver", "Vancouver", "British Columbia", "BC", "Canada", "CAN"},
	{"CAN#ON#Toronto", "Toronto", "Ontario", "ON", "Canada", "CAN"},
	{"CAN#QC#Montreal", "Montreal", "Quebec", "QC", "Canada", "CAN"},
	{"USA#CA#San Francisco", "San Francisco", "California", "CA", "United States", "USA"},
	{"USA#CA#Los Angeles", "Los Angeles", "California", "CA", "United States", "USA"},
	{"USA#NY#New York", "New York", "New York", "NY", "United States", "USA"},
	{"USA#WA#Seattle", "Seattle", "Washington", "WA", "United States", "USA"},
	{"USA#HI#Honolulu", "Honolulu", "Hawaii", "HI", "United States", "USA"},
	{"USA#CO#Denver", "Denver", "Colorado", "CO", "United States", "USA"},
	{"MEX#ROO#Cancun", "Cancun", "Quintana Roo", "ROO", "Mexico", "MEX"},
	{"GBR#ENG#London", "London", "England", "ENG", "United Kingdom", "GBR"},
	{"FRA#IDF#Paris", "Paris", "Ile-de-France", "IDF", "France", "FRA"},
	{"DEU#BE#Berlin", "Berlin", "Berlin", "BE", "Germany", "DEU"},
	{"ITA#RM#Rome", "Rome", "Lazio", "RM", "Italy", "ITA"},
	{"ESP#B#Barcelona", "Barcelona", "Catalonia", "B", "Spain", "ESP"},
	{"JPN#13#Tokyo", "Tokyo", "Tokyo", "13", "Japan", "JPN"},
	{"AUS#NSW#Sydney", "Sydney", "New South Wales", "NSW", "Australia", "AUS"},
	{"ISL#1#Reykjavik", "Reykjavik", "Capital Region", "1", "Iceland", "ISL"},
}

var albumNames = []string{"Vancouver 2019", "Summer 2021", "Family", "Best of 2023", "Pets", "Road trip", "Wedding", "Screenshots to keep"}

func init() {
	for i := range cameras {
		c := &cameras[i]
		var b []byte
		if c.group == camVideo {
			b = appendMember(b, "videoCodec", c.codec)
			b = append(b, `,"videoBitrate":`...)
			b = appendFloat(b, c.vrate)
			b = append(b, `,"videoFrameRate":`...)
			b = appendFloat(b, c.frameRate)
			b = append(b, `,"bitrate":`...)
			b = appendFloat(b, c.vrate+163000)
			b = append(b, `,"audioCodec":"aac","audioBitrate":163000.0,"audioSampleRate":44100.0,"audioChannels":2,"audioChannelLayout":"stereo"`...)
			b = append(b, ',')
			b = appendMember(b, "make", c.make)
			b = append(b, ',')
			b = appendMember(b, "model", c.model)
			b = append(b, `,"encoder":"","title":""`...)
		} else if c.make != "" {
			for _, kv := range [][2]string{{"make", c.make}, {"model", c.model}, {"apertureValue", c.aperture},
				{"focalLength", c.focal}, {"colorSpace", "sRGB"}, {"meteringMode", "Pattern"},
				{"exposureProgram", "Normal program"}, {"exposureMode", "Auto Exposure"}, {"whiteBalance", "Auto"},
				{"sensingMethod", "One-chip color area"}, {"software", c.software}, {"xResolution", "72"},
				{"yResolution", "72"}, {"resolutionUnit", "Pixels/Inch"}} {
				if len(b) > 0 {
					b = append(b, ',')
				}
				b = appendMember(b, kv[0], kv[1])
			}
		}
		c.frag = b
	}
}
