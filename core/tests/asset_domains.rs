//! One test per default asset, pinning the EIP-712 domain separator its signatures are made under. The
//! separators were computed by viem 2.55 (tests/vectors/assets.json); a change to a name, version, chain or
//! address in the table breaks exactly one of these tests.

use alloy_primitives::{B256, b256};
use paywire_core::assets::known_asset;
use paywire_core::exact::domain_separator;
use paywire_core::wire::parse_address;

fn pinned(chain_id: u64, address: &str, expected: B256) {
    let asset = known_asset(chain_id, &parse_address(address).unwrap()).expect("the asset is in the table");
    assert_eq!(domain_separator(asset.name, asset.version, chain_id, asset.address), expected, "{}", asset.name);
}

macro_rules! pin {
    ($($test:ident: $chain:literal, $address:literal, $separator:literal;)*) => {
        $(#[test] fn $test() { pinned($chain, $address, b256!($separator)); })*
    };
}

pin! {
    chain_8453_usdc_usd_coin: 8453, "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "0x02fa7265e7c5d81118673727957699e4d68f74cd74b7db77da710fe8a2c7834f";
    chain_84532_usdc_usdc: 84532, "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "0x71f17a3b2ff373b803d70a5a07c046c1a2bc8e89c09ef722fcb047abe94c9818";
    chain_1_usdc_usd_coin: 1, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "0x06c37168a7db5138defc7866392bb87a741f9b3d104deb5094588ce041cae335";
    chain_43114_usdc_usd_coin: 43114, "0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", "0xbbea200329a938bc3438984a49cb0732e66d66d7bd59c127abacc1710e77f7b3";
    chain_4326_megausd_megausd: 4326, "0xFAfDdbb3FC7688494971a79cc65DCa3EF82079E7", "0x26e1aa8b35bf8653b60726926f670a6ec590674f00b149826914c480d0e798bd";
    chain_143_usdc_usdc: 143, "0x754704Bc059F8C67012fEd69BC8A327a5aafb603", "0xfe22123edc0dd4aeb912eb7948c5f0e531592c2053b3067612f427db342c93c6";
    chain_988_usdt0_usdt0: 988, "0x779Ded0c9e1022225f8E0630b35a9b54bE713736", "0xf21cc02b28f1a6c8d5ae07aaf9d8954535a11acbaf36923aef1b21d0fc27b221";
    chain_2201_usdt0_usdt0: 2201, "0x78Cf24370174180738C5B8E352B6D14c83a6c9A9", "0x8ab6d6926f29d5cf5137b569b2033492d332e54bfc801640d48745da4ab8c1fe";
    chain_137_usdc_usd_coin: 137, "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", "0xcaa2ce1a5703ccbe253a34eb3166df60a705c561b44b192061e28f2a985be2ca";
    chain_42161_usdc_usd_coin: 42161, "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "0x08d11903f8419e68b1b8721bcbe2e9fc68569122a77ef18c216f10b3b5112c78";
    chain_421614_usdc_usd_coin: 421614, "0x75faf114eafb1BDbe2F0316DF893fd58CE46AA4d", "0x85944e1292d007732838d6eadfa67589b78ffcededbd4df60488d0af251308bb";
    chain_31612_musd_mezo_usd: 31612, "0xdD468A1DDc392dcdbEf6db6e34E89AA338F9F186", "0x0a43819914359cf08d7ef52ccb53aadf5478d3d2fc676003ccb84491d09a3e93";
    chain_31611_musd_mezo_usd: 31611, "0x118917a40FAF1CD7a13dB0Ef56C86De7973Ac503", "0x6f9f5c5d441374bdc3939f5da85a145469d7ffbc96bfe0cce59e5de7d8f1474f";
    chain_723487_sbc_stable_coin: 723487, "0x33ad9e4BD16B69B5BFdED37D8B5D9fF9aba014Fb", "0xad9d505934aea9cff020dd1fe24aafd01930aed2b6a477d2cd73d55d6f45cc27";
    chain_72344_sbc_stable_coin: 72344, "0x33ad9e4BD16B69B5BFdED37D8B5D9fF9aba014Fb", "0x153e02f2c4163dc3c9109ee8a3e7adb2a19e6071115ec74f8573c6638068081d";
    chain_36900_usdc_e_usdc_e: 36900, "0x9cb8142aEBBcdc60AF7c97Af897A67A8f3CA71C2", "0x4369b2ef8a73be962c9aaf8dcddc38d022dca40af0729d7e4c80a3b44f6698fa";
    chain_190415_usdc_e_bridged_usdc: 190415, "0x401eCb1D350407f13ba348573E5630B83638E30D", "0xec205e80d13812cd615a90f0751d6abc05df7ebcbb86c5c50e6abb874d53df6a";
    chain_181228_usdc_e_bridged_usdc: 181228, "0x401eCb1D350407f13ba348573E5630B83638E30D", "0x770326a81f629cc1072c47674445f4894838dbc10fb9e90abbb0f05c105ba4f2";
    chain_50_usdc_usdc: 50, "0xfA2958CB79b0491CC627c1557F441eF849Ca8eb1", "0xe3bb44ae105af7e23bb39b117e22bbcbf435066554f45b3a9bbcba42c80fe56d";
    chain_51_usdc_usdc: 51, "0xb5AB69F7bBada22B28e79C8FFAECe55eF1c771D4", "0x3835afe643ce123f3bc71a8e3123e24651d2d4309bbf3ba58329a1db60b9b2c3";
    chain_38833_usdc_usdc: 38833, "0xA5b8BF902b2844dA17d4506cc827F7F1681735E7", "0x28bce74a6cc06fa84b1d62e091fdd53d7c119236fce935685def34d844802e8f";
    chain_14_usdt0_usd_0: 14, "0xe7cd86e13AC4309349F30B3435a9d337750fC82D", "0x4c53d754dcb2f406ecf83695856d8c10b13296a318d9a481043412bf253d43ae";
    chain_42220_usdc_usdc: 42220, "0xcebA9300f2b948710d2653dD7B07f33A8B32118C", "0xb2ce31d2838445fa765a491f550e7c78ac7280ab0f3bc9d6063a86df9c3fb578";
    chain_42220_usdt_tether_usd: 42220, "0x48065fbBE25f71C9282ddf5e1cD6D6A887483D5e", "0xbcb4d62e4834b598d0eacecd84c0b397a0254e077c41cf2143e394d5701d1088";
    chain_42220_usat_tether_america_usd: 42220, "0xD2ab3C9A02DBBAB236BfEC45D1d755DF4267F771", "0xe6bbb7920a85afd44befe87c998da24b8b655c972faf8a8acbdf38c829ff8bf2";
    chain_11142220_usdc_usdc: 11142220, "0x01C5C0122039549AD1493B8220cABEdD739BC44E", "0x23f491197bb8c5ea4fe8dd4c2293b600f073553f9814015e7a5eb57724df9578";
    chain_1329_usdc_usdc: 1329, "0xe15fC38F6D8c56aF07bbCBe3BAf5708A2Bf42392", "0x0a19136106ae98d2c245cbbd451f3cb2bbbb1670e1ee191abacb5a5e255c0255";
    chain_1328_usdc_usdc: 1328, "0x4fCF1784B31630811181f670Aea7A7bEF803eaED", "0x154bb5980ce1d584a1067dc67730720e6046d0364a2ade0b692dd488e71fe653";
}
