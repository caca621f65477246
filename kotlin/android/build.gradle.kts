plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.20"
}

android {
    namespace = "dev.paywire"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        // JNA and the generated bindings must survive the app's R8 pass.
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        // Shared with the JVM jar; src/jvm (java.net.http) is left out: Android has no java.net.http.
        java.srcDirs("../src/main/kotlin")
        jniLibs.srcDirs("src/main/jniLibs")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The AAR flavour of JNA carries libjnidispatch.so for every Android ABI.
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    // PaywireInterceptor is for apps that use OkHttp; they bring their own.
    compileOnly("com.squareup.okhttp3:okhttp:4.12.0")
}
