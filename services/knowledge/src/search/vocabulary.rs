//! The words the search knows beyond jieba's dictionary: data only, imported by [`super::text`]
//! (each term becomes one token) and [`super::synonyms`] (query-time expansion), so that
//! neither imports the other's data.

/// The synonym groups shipped with the service: what citizens and agents say for the same
/// thing on a hotline. Their terms are also added to the jieba dictionary, so that each is
/// one token.
pub(crate) const DEFAULT_SYNONYMS: &[&[&str]] = &[
    &["医保", "医疗保险", "基本医疗保险"],
    &["医保卡", "医疗保障卡"],
    &["社保", "社会保险"],
    &["社保卡", "社会保障卡"],
    &["公积金", "住房公积金"],
    &["户口", "户籍"],
    &["户口本", "户口簿", "居民户口簿"],
    &["身份证", "居民身份证"],
    &["驾照", "驾驶证", "机动车驾驶证"],
    &["行驶证", "机动车行驶证"],
    &["新生儿", "婴儿", "婴幼儿"],
    &["小孩", "孩子", "子女", "儿童"],
    &["老人", "老年人"],
    &["养老金", "退休金", "基本养老金"],
    &["低保", "最低生活保障"],
    &["残疾证", "残疾人证"],
    &["城管", "城市管理"],
    &["欠薪", "拖欠工资", "讨薪"],
    &["噪音", "噪声"],
    &["网约车", "网络预约出租汽车"],
    &["出租车", "的士", "出租汽车"],
    &["公交", "公交车", "公共汽车"],
    &["地铁", "轨道交通"],
    &["停水", "断水"],
    &["停电", "断电"],
    &["燃气", "煤气", "天然气"],
    &["居住证", "暂住证"],
    &["社区", "居委会"],
    &["街道", "街道办"],
    &["离婚", "解除婚姻"],
    &["失业金", "失业保险金"],
    &["生育津贴", "生育保险待遇"],
    &["电动车", "电动自行车"],
    &["违停", "违章停车"],
];
